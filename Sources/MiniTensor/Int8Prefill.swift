internal import CKernels
import Synchronization

/// How ``GGMLMatrix/linear(_:)`` and ``Q8Matrix/linear(_:)`` multiply inputs of more than 64 rows
/// (a long prompt's prefill).
public enum PrefillProducts: Int, Sendable, CaseIterable, CustomStringConvertible {
  /// Int8 products where they are faster than `sgemm`: on CPUs with AVX-512 VNNI or AVX-VNNI.
  /// With AVX2 alone (`vpmaddubsw`), a tile of int8 products measured about 8% slower than
  /// OpenBLAS's `sgemm` per core on the dequantized weight, so `sgemm` stays there.
  case automatic = 0
  /// Always the tiled int8 products: each activation row quantized as for one-row products
  /// (q8_0, q8_1 or q8_K by weight format), each block an exact integer dot product.
  case int8 = 1
  /// Always `sgemm` on the weight dequantized a panel at a time.
  case float = 2

  /// `automatic`, `int8` or `float`.
  public var description: String {
    switch self {
    case .automatic: "automatic"
    case .int8: "int8"
    case .float: "float"
    }
  }

  /// The choice named `name` (as ``description`` spells it), or `nil`.
  public init?(name: String) {
    guard let match = Self.allCases.first(where: { $0.description == name }) else { return nil }
    self = match
  }
}

private let configuredPrefillProducts = Atomic<Int>(PrefillProducts.automatic.rawValue)

/// Sets how inputs of more than 64 rows meet quantized weights, process-wide (to compare the
/// paths; the default is ``PrefillProducts/automatic``).
public func setPrefillProducts(_ choice: PrefillProducts) {
  configuredPrefillProducts.store(choice.rawValue, ordering: .relaxed)
}

/// The current ``setPrefillProducts(_:)`` choice.
public func prefillProducts() -> PrefillProducts {
  PrefillProducts(rawValue: configuredPrefillProducts.load(ordering: .relaxed)) ?? .automatic
}

enum Int8Prefill {
  /// Input rows above which the int8 products replace `sgemm` (at most 64 rows take the one-row
  /// integer kernels of ``GGMLMatrix`` instead).
  static let minimumRows = 64

  /// Whether `n` input rows take the tiled int8 products.
  static func uses(rows n: Int) -> Bool {
    guard n > minimumRows else { return false }
    switch prefillProducts() {
    case .int8: return true
    case .float: return false
    case .automatic:
      let variant = ck_gemm_active_variant()
      return variant == CK_GEMM_VNNI || variant == CK_GEMM_AVX_VNNI
    }
  }

  /// Quantizes the `n` rows of `x` (`cols` each) into prepared activation rows, rows split over
  /// threads, and runs `body` on them.
  static func withPreparedRows<R>(
    _ x: UnsafePointer<Float>, rows n: Int, cols: Int,
    prepare: @escaping @Sendable (UnsafePointer<Float>, UnsafeMutableRawPointer) -> Void,
    _ body: (UnsafeRawPointer) -> R
  ) -> R {
    let stride = ck_gemm_activation_bytes(cols)
    let buffer = UnsafeMutableRawPointer.allocate(byteCount: n * stride, alignment: 64)
    defer { buffer.deallocate() }
    let (input, out) = (UncheckedSendable(x), UncheckedSendable(buffer))
    parallelFor(n, grain: max(1, Kernels.parallelWork / max(cols, 1))) { range in
      for row in range { prepare(input.value + row * cols, out.value + row * stride) }
    }
    return body(UnsafeRawPointer(buffer))
  }

  /// Weight rows per thread task: whole panels of 16 rows, at least a few per task.
  static func grain(rows: Int, n: Int, cols: Int) -> Int {
    let perRow = max(1, n * cols)
    let rowsPerTask = max(16, Kernels.parallelWork / perRow)
    return (rowsPerTask + 15) / 16 * 16
  }
}

extension GGMLMatrix {
  /// `x · Wᵀ` for `x` `[…, cols]` by the tiled int8 products (`ck_ggml_gemm`), whatever the
  /// number of rows: each row quantized as ggml quantizes activations for this format, weight
  /// rows split over threads.
  package func int8Linear(_ x: Tensor) -> Tensor {
    precondition(
      x.rank >= 1 && x.shape[x.rank - 1] == cols,
      "GGMLMatrix.int8Linear: input \(x.shape) with weight [\(rows), \(cols)] \(format.rawValue)")
    let n = x.count / cols
    let input = x.contiguous()
    let type = format.cType
    let columns = cols
    let outputs = rows
    let scratchBytes = ck_ggml_activation_bytes(type, cols)
    let stride = format.rowByteCount(cols)
    return Tensor(unsafeUninitializedShape: Array(x.shape.dropLast()) + [rows]) { y in
      input.withUnsafeBufferPointer { x in
        Int8Prefill.withPreparedRows(
          x.baseAddress!, rows: n, cols: columns,
          prepare: { row, out in
            withUnsafeTemporaryAllocation(byteCount: scratchBytes, alignment: 64) { scratch in
              ck_ggml_gemm_prepare_activation(type, row, columns, scratch.baseAddress!, out)
            }
          }
        ) { prepared in
          let (activations, out) = (UncheckedSendable(prepared), UncheckedSendable(y.baseAddress!))
          bytes.withUnsafeBytes { w in
            let weights = UncheckedSendable(w.baseAddress!)
            parallelFor(outputs, grain: Int8Prefill.grain(rows: outputs, n: n, cols: columns)) {
              range in
              ck_ggml_gemm(
                type, weights.value + range.lowerBound * stride, activations.value,
                out.value + range.lowerBound, outputs, range.count, columns, n)
            }
          }
        }
      }
    }
  }
}

extension Q8Matrix {
  /// `x · Wᵀ` for `x` `[…, cols]` by the tiled int8 products (`ck_q8_gemm`), whatever the number
  /// of rows: each row quantized to q8_0 as for one row, weight rows split over threads.
  package func int8Linear(_ x: Tensor) -> Tensor {
    precondition(
      x.rank >= 1 && x.shape[x.rank - 1] == cols,
      "Q8Matrix.int8Linear: input \(x.shape) with weight [\(rows), \(cols)]")
    let n = x.count / cols
    let input = x.contiguous()
    let columns = cols
    let outputs = rows
    let blocks = cols / Kernels.q8BlockSize
    return Tensor(unsafeUninitializedShape: Array(x.shape.dropLast()) + [rows]) { y in
      input.withUnsafeBufferPointer { x in
        Int8Prefill.withPreparedRows(
          x.baseAddress!, rows: n, cols: columns,
          prepare: { row, out in ck_q8_gemm_prepare_activation(row, columns, out) }
        ) { prepared in
          let (activations, out) = (UncheckedSendable(prepared), UncheckedSendable(y.baseAddress!))
          quants.withUnsafeBufferPointer { q in
            scales.withUnsafeBufferPointer { s in
              let (q, s) = (UncheckedSendable(q.baseAddress!), UncheckedSendable(s.baseAddress!))
              parallelFor(outputs, grain: Int8Prefill.grain(rows: outputs, n: n, cols: columns)) {
                range in
                ck_q8_gemm(
                  q.value + range.lowerBound * columns, s.value + range.lowerBound * blocks,
                  activations.value, out.value + range.lowerBound, outputs, range.count, columns,
                  n)
              }
            }
          }
        }
      }
    }
  }
}
