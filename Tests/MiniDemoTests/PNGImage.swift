import Foundation
import MiniDemo

/// An 8-bit RGB or RGBA, non-interlaced PNG (what a headless browser's screenshot is), decoded
/// to pixels: enough to look at what a screenshot shows.
struct PNGImage {
  let width: Int
  let height: Int
  /// Row-major RGB triples.
  let rgb: [UInt8]

  struct FormatError: Error, CustomStringConvertible {
    let description: String
  }

  init(path: String) throws {
    guard let data = FileManager.default.contents(atPath: path) else {
      throw FormatError(description: "\(path): cannot read")
    }
    let bytes = [UInt8](data)
    guard bytes.starts(with: [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]) else {
      throw FormatError(description: "\(path): not a PNG file")
    }
    func bigEndian(_ offset: Int) -> Int {
      bytes[offset..<offset + 4].reduce(0) { $0 << 8 | Int($1) }
    }
    var offset = 8
    var header: [UInt8] = []
    var compressed: [UInt8] = []
    while offset + 8 <= bytes.count {
      let length = bigEndian(offset)
      let type = String(decoding: bytes[offset + 4..<offset + 8], as: UTF8.self)
      guard offset + 12 + length <= bytes.count else {
        throw FormatError(description: "\(path): chunk \(type) runs past the end")
      }
      let body = bytes[offset + 8..<offset + 8 + length]
      if type == "IHDR" { header = Array(body) }
      if type == "IDAT" { compressed += body }
      if type == "IEND" { break }
      offset += 12 + length
    }
    guard header.count == 13 else { throw FormatError(description: "\(path): no IHDR chunk") }
    width = header[0..<4].reduce(0) { $0 << 8 | Int($1) }
    height = header[4..<8].reduce(0) { $0 << 8 | Int($1) }
    let channels: Int
    switch (header[8], header[9], header[12]) {
    case (8, 2, 0): channels = 3
    case (8, 6, 0): channels = 4
    default:
      throw FormatError(
        description: "\(path): depth \(header[8]), colour type \(header[9]), interlace "
          + "\(header[12]) is not 8-bit RGB(A) without interlace")
    }
    // IDAT holds one zlib stream; zlib's inflate reads zlib as well as gzip framing.
    let raw = try Gzip.decompress(compressed, path: path)
    let stride = width * channels
    guard raw.count == height * (stride + 1) else {
      throw FormatError(
        description: "\(path): \(raw.count) bytes of pixel data for \(width)×\(height)")
    }
    var previous = [UInt8](repeating: 0, count: stride)
    var pixels = [UInt8]()
    pixels.reserveCapacity(width * height * 3)
    for y in 0..<height {
      let start = y * (stride + 1) + 1
      var row = Array(raw[start..<start + stride])
      for x in 0..<stride {
        let left = x >= channels ? Int(row[x - channels]) : 0
        let up = Int(previous[x])
        let upLeft = x >= channels ? Int(previous[x - channels]) : 0
        let predictor: Int
        switch raw[start - 1] {
        case 0: predictor = 0
        case 1: predictor = left
        case 2: predictor = up
        case 3: predictor = (left + up) / 2
        case 4:
          let p = left + up - upLeft
          let (pa, pb, pc) = (abs(p - left), abs(p - up), abs(p - upLeft))
          predictor = pa <= pb && pa <= pc ? left : (pb <= pc ? up : upLeft)
        default:
          throw FormatError(description: "\(path): row \(y) has filter \(raw[start - 1])")
        }
        row[x] = UInt8(truncatingIfNeeded: Int(row[x]) + predictor)
      }
      for x in 0..<width {
        pixels += row[x * channels..<x * channels + 3]
      }
      previous = row
    }
    rgb = pixels
  }

  /// How many pixels are within `tolerance` (per channel) of the colour `hex` ("#rrggbb").
  func count(near hex: String, tolerance: Int = 40) -> Int {
    let value = Int(hex.dropFirst(), radix: 16) ?? 0
    let target = [value >> 16 & 0xFF, value >> 8 & 0xFF, value & 0xFF]
    var count = 0
    for index in stride(from: 0, to: rgb.count, by: 3)
    where (0..<3).allSatisfy({ abs(Int(rgb[index + $0]) - target[$0]) <= tolerance }) {
      count += 1
    }
    return count
  }
}
