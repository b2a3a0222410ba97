import MiniTensor

/// Keys and values of every layer for the positions seen so far, preallocated for `capacity`
/// positions, written in place at each step.
public final class KVCache {
  /// How the cache keeps keys and values, and so how attention reads them.
  public enum Precision: String, Sendable, CaseIterable {
    /// As computed: attention in `Float` (`transformers`' arithmetic).
    case f32
    /// Rounded to half precision as they are written (llama.cpp's default `f16` cache), and
    /// attended to as llama.cpp does: queries and probabilities in half precision too, the sums
    /// in ggml's order (``InferenceArithmetic/llamaCpp``).
    case f16
  }

  /// Sequences in the batch.
  public let batch: Int
  /// How keys and values are kept.
  public let precision: Precision
  /// Positions the cache can hold.
  public let capacity: Int
  /// Positions filled.
  public private(set) var length = 0
  let kvHeads: Int
  let headDim: Int
  private var keyBuffers: [Tensor]
  private var valueBuffers: [Tensor]
  /// The first element of each layer's key and value buffer (owned by the buffers above, which
  /// live as long as the cache and are never replaced).
  private let keyBases: [UnsafeMutablePointer<Float>]
  private let valueBases: [UnsafeMutablePointer<Float>]

  /// An empty cache for `config`, holding up to `capacity` positions (default: the model's
  /// `maxPositions`). ``Llama/makeCache(batch:capacity:)`` picks the precision of the model's
  /// arithmetic.
  public init(
    config: LlamaConfig, batch: Int = 1, capacity: Int? = nil, precision: Precision = .f32
  ) {
    let capacity = capacity ?? config.maxPositions
    precondition(batch > 0 && capacity > 0, "KVCache: batch \(batch), capacity \(capacity)")
    self.batch = batch
    self.precision = precision
    self.capacity = capacity
    kvHeads = config.kvHeadCount
    headDim = config.headDim
    let shape = [batch, capacity, kvHeads, headDim]
    // Large buffers as zero pages committed as positions are written: a cache for a
    // 131,072-token context costs what the conversation fills, not gigabytes up front. Small
    // ones (a served request's) come from the recycled tensor buffers, without page faults.
    let large = shape.reduce(1, *) * MemoryLayout<Float>.stride >= 16 << 20
    func zeros() -> Tensor { large ? Tensor.zeroPages(shape) : Tensor.zeros(shape) }
    keyBuffers = (0..<config.layerCount).map { _ in zeros() }
    valueBuffers = (0..<config.layerCount).map { _ in zeros() }
    keyBases = keyBuffers.map { $0.withUnsafeSharedMutableBufferPointer { $0.baseAddress! } }
    valueBases = valueBuffers.map { $0.withUnsafeSharedMutableBufferPointer { $0.baseAddress! } }
  }

  /// Forgets every position (the buffers are kept).
  public func reset() { length = 0 }

  /// Drops the positions from `newLength` on (e.g. to rewind a shared prompt).
  public func truncate(to newLength: Int) {
    precondition(
      newLength >= 0 && newLength <= length, "KVCache: truncate to \(newLength) of \(length)")
    length = newLength
  }

  func write(layer: Int, keys: Tensor, values: Tensor, at start: Int) {
    let sequence = keys.shape[1]
    precondition(
      start + sequence <= capacity, "KVCache: positions up to \(start + sequence) > \(capacity)")
    let row = kvHeads * headDim
    for (source, buffer) in [(keys, keyBuffers[layer]), (values, valueBuffers[layer])] {
      source.withUnsafeBufferPointer { source in
        buffer.withUnsafeSharedMutableBufferPointer { target in
          for b in 0..<batch {
            let from = source.baseAddress! + b * sequence * row
            let to = target.baseAddress! + (b * capacity + start) * row
            to.update(from: from, count: sequence * row)
            if precision == .f16 { Kernels.roundToHalf(to, count: sequence * row) }
          }
        }
      }
    }
  }

  /// Writes one position of a batch-1 cache: `kvHeads · headDim` keys and values.
  func write(layer: Int, key: UnsafePointer<Float>, value: UnsafePointer<Float>, at position: Int) {
    precondition(
      batch == 1 && position < capacity,
      "KVCache: position \(position) of \(capacity), batch \(batch)")
    let row = kvHeads * headDim
    (keyBases[layer] + position * row).update(from: key, count: row)
    (valueBases[layer] + position * row).update(from: value, count: row)
    if precision == .f16 {
      Kernels.roundToHalf(keyBases[layer] + position * row, count: row)
      Kernels.roundToHalf(valueBases[layer] + position * row, count: row)
    }
  }

  /// The first key of `layer` (`[batch, capacity, kvHeads, headDim]`).
  package func keyBase(layer: Int) -> UnsafePointer<Float> { UnsafePointer(keyBases[layer]) }
  /// The first value of `layer`.
  func valueBase(layer: Int) -> UnsafePointer<Float> { UnsafePointer(valueBases[layer]) }

  /// The whole key buffer of `layer`, `[batch, capacity, kvHeads, headDim]`.
  func keyBuffer(layer: Int) -> Tensor { keyBuffers[layer] }
  /// The whole value buffer of `layer`, `[batch, capacity, kvHeads, headDim]`.
  func valueBuffer(layer: Int) -> Tensor { valueBuffers[layer] }

  func keys(layer: Int, length: Int) -> Tensor { keyBuffers[layer].sliced(0..<length, axis: 1) }
  func values(layer: Int, length: Int) -> Tensor { valueBuffers[layer].sliced(0..<length, axis: 1) }

  func advance(by count: Int) { length += count }
}
