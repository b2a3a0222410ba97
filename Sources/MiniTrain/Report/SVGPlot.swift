import Foundation
import MiniSupport

/// A static line chart as inline SVG (no JavaScript): axes with round-number ticks, a legend,
/// lines or markers per series.
public struct SVGPlot: Sendable {
  /// One data series.
  public struct Series: Sendable {
    /// Legend text.
    public var name: String
    /// CSS colour.
    public var color: String
    /// Points `(x, y)`; non-finite values are left out.
    public var points: [(x: Double, y: Double)]
    /// Draw markers at the points instead of only a line.
    public var markers: Bool
    /// Line width in pixels.
    public var width: Double

    /// A series.
    public init(
      name: String, color: String, points: [(x: Double, y: Double)], markers: Bool = false,
      width: Double = 1.5
    ) {
      self.name = name
      self.color = color
      self.points = points
      self.markers = markers
      self.width = width
    }
  }

  /// Chart title.
  public var title: String
  /// X axis label.
  public var xLabel: String
  /// Y axis label.
  public var yLabel: String
  /// The series, drawn in order.
  public var series: [Series]
  /// Size in pixels.
  public var width = 760.0
  /// Size in pixels.
  public var height = 300.0

  /// A chart.
  public init(title: String, xLabel: String, yLabel: String, series: [Series]) {
    self.title = title
    self.xLabel = xLabel
    self.yLabel = yLabel
    self.series = series
  }

  /// Round tick values covering `low...high`, about `count` of them.
  public static func ticks(_ low: Double, _ high: Double, count: Int = 6) -> [Double] {
    guard high > low else { return [low] }
    let raw = (high - low) / Double(count)
    let magnitude = pow(10, floor(log10(raw)))
    let step = [1.0, 2, 2.5, 5, 10].map { $0 * magnitude }.first { $0 >= raw } ?? raw
    var result: [Double] = []
    var value = (low / step).rounded(.up) * step
    while value <= high + step * 1e-9 {
      result.append(abs(value) < step * 1e-9 ? 0 : value)
      value += step
    }
    return result
  }

  /// Tick labels in one style for the whole axis: fixed decimals enough for the tick step, or
  /// scientific notation for very small or large values.
  public static func labels(_ ticks: [Double]) -> [String] {
    guard ticks.count > 1 else { return ticks.map { String(format: "%g", $0) } }
    let step = abs(ticks[1] - ticks[0])
    let largest = ticks.map(abs).max() ?? 0
    if step < 1e-3 || largest >= 1e5 {
      return ticks.map { $0 == 0 ? "0" : String(format: "%.1e", $0) }
    }
    var decimals = max(0, Int(-floor(log10(step))))
    if abs(step / pow(10, floor(log10(step))) - 2.5) < 1e-9 { decimals += 1 }
    return ticks.map { String(format: "%.\(decimals)f", $0) }
  }

  /// The `<svg>` element.
  public func svg() -> String {
    let finite = series.map { $0.points.filter { $0.x.isFinite && $0.y.isFinite } }
    let all = finite.flatMap { $0 }
    let (left, right, top, bottom) = (64.0, 16.0, 34.0, 44.0)
    let plotWidth = width - left - right
    let plotHeight = height - top - bottom
    var out = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(Int(width))\" "
    out += "height=\"\(Int(height))\" viewBox=\"0 0 \(Int(width)) \(Int(height))\" "
    out += "font-family=\"sans-serif\" font-size=\"11\" role=\"img\">\n"
    out += "<title>\(htmlEscaped(title))</title>\n"
    out +=
      "<rect x=\"0\" y=\"0\" width=\"\(Int(width))\" height=\"\(Int(height))\" fill=\"white\"/>\n"
    out +=
      "<text x=\"\(left)\" y=\"18\" font-size=\"13\" font-weight=\"bold\">\(htmlEscaped(title))</text>\n"
    guard !all.isEmpty else {
      out +=
        "<text x=\"\(width / 2)\" y=\"\(height / 2)\" text-anchor=\"middle\" fill=\"#888\">no data</text>\n"
      return out + "</svg>"
    }
    var (xLow, xHigh) = (all.map(\.x).min()!, all.map(\.x).max()!)
    var (yLow, yHigh) = (all.map(\.y).min()!, all.map(\.y).max()!)
    if xHigh == xLow { (xLow, xHigh) = (xLow - 1, xHigh + 1) }
    if yHigh == yLow {
      let pad = max(abs(yLow) * 0.1, 1e-6)
      (yLow, yHigh) = (yLow - pad, yHigh + pad)
    } else {
      let pad = (yHigh - yLow) * 0.05
      (yLow, yHigh) = (yLow - pad, yHigh + pad)
    }
    func px(_ x: Double) -> Double { left + (x - xLow) / (xHigh - xLow) * plotWidth }
    func py(_ y: Double) -> Double { top + (1 - (y - yLow) / (yHigh - yLow)) * plotHeight }
    func f(_ value: Double) -> String { String(format: "%.1f", value) }

    out += "<g stroke=\"#e4e4e4\" stroke-width=\"1\">\n"
    let yTicks = Self.ticks(yLow, yHigh)
    let xTicks = Self.ticks(xLow, xHigh, count: 8)
    for y in yTicks {
      out +=
        "<line x1=\"\(f(left))\" y1=\"\(f(py(y)))\" x2=\"\(f(left + plotWidth))\" y2=\"\(f(py(y)))\"/>\n"
    }
    for x in xTicks {
      out +=
        "<line x1=\"\(f(px(x)))\" y1=\"\(f(top))\" x2=\"\(f(px(x)))\" y2=\"\(f(top + plotHeight))\"/>\n"
    }
    out += "</g>\n<g fill=\"#444\">\n"
    for (y, label) in zip(yTicks, Self.labels(yTicks)) {
      out +=
        "<text x=\"\(f(left - 6))\" y=\"\(f(py(y) + 4))\" text-anchor=\"end\">\(label)</text>\n"
    }
    for (x, label) in zip(xTicks, Self.labels(xTicks)) {
      out += "<text x=\"\(f(px(x)))\" y=\"\(f(top + plotHeight + 16))\" "
      out += "text-anchor=\"middle\">\(label)</text>\n"
    }
    out +=
      "<text x=\"\(f(left + plotWidth / 2))\" y=\"\(f(height - 8))\" text-anchor=\"middle\">\(htmlEscaped(xLabel))</text>\n"
    out += "<text x=\"14\" y=\"\(f(top + plotHeight / 2))\" text-anchor=\"middle\" "
    out += "transform=\"rotate(-90 14 \(f(top + plotHeight / 2)))\">\(htmlEscaped(yLabel))</text>\n"
    out += "</g>\n"
    out +=
      "<rect x=\"\(f(left))\" y=\"\(f(top))\" width=\"\(f(plotWidth))\" height=\"\(f(plotHeight))\" "
    out += "fill=\"none\" stroke=\"#999\"/>\n"

    for (index, points) in finite.enumerated() where !points.isEmpty {
      let s = series[index]
      let path = points.map { "\(f(px($0.x))),\(f(py($0.y)))" }.joined(separator: " ")
      out += "<polyline fill=\"none\" stroke=\"\(s.color)\" stroke-width=\"\(s.width)\" "
      out += "stroke-linejoin=\"round\" points=\"\(path)\"/>\n"
      if s.markers || points.count == 1 {
        for point in points {
          out +=
            "<circle cx=\"\(f(px(point.x)))\" cy=\"\(f(py(point.y)))\" r=\"3\" fill=\"\(s.color)\"/>\n"
        }
      }
    }
    var legendX = left + plotWidth
    for s in series.reversed() {
      let textWidth = Double(s.name.count) * 6.5 + 22
      legendX -= textWidth
      out += "<rect x=\"\(f(legendX))\" y=\"10\" width=\"12\" height=\"4\" fill=\"\(s.color)\"/>"
      out += "<text x=\"\(f(legendX + 16))\" y=\"16\">\(htmlEscaped(s.name))</text>\n"
    }
    return out + "</svg>"
  }
}
