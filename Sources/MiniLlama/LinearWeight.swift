import MiniAutograd
import MiniTensor

/// The weight `W` (`[out, in]`, as PyTorch stores it) of a linear layer `y = x · Wᵀ` without
/// bias, in the representation chosen when the model is loaded or converted. Each case knows how
/// to multiply by itself; the blocks only call ``callAsFunction(_:tape:)``.
///
/// Another storage (4-bit blocks such as ggml's `q4_0` or `q4_K`, or a frozen base plus trainable
/// low-rank adapters) is one more case here, with its product and its byte count; the attention,
/// MLP and head that use linear weights stay as they are.
public enum LinearWeight {
  /// `Float` values in the parameter arena; trainable through a tape.
  case dense(Parameter)
  /// int8 blocks of 32 with one scale each, as ggml's `q8_0`, quantized from the weight called
  /// `name`; for inference only.
  case q8_0(Q8Matrix, name: String)
  /// A frozen base (dense or q8_0) with trainable low-rank adapters (``LoRALinear``).
  case lora(LoRALinear)
  /// ggml blocks as a GGUF file stores them (q4_0, q4_1, q5_0, q5_1, q8_0, q4_K, q5_K, q6_K), for the weight
  /// called `name`; products as llama.cpp computes them, for inference only.
  case ggml(GGMLMatrix, name: String)

  /// The Hugging Face name of the weight (e.g. `model.layers.0.self_attn.q_proj.weight`).
  public var name: String {
    switch self {
    case .dense(let parameter): parameter.name
    case .q8_0(_, let name): name
    case .lora(let adapter): adapter.base.name
    case .ggml(_, let name): name
    }
  }

  /// `[out, in]`.
  public var shape: [Int] {
    switch self {
    case .dense(let parameter): parameter.shape
    case .q8_0(let matrix, _): [matrix.rows, matrix.cols]
    case .lora(let adapter): adapter.base.shape
    case .ggml(let matrix, _): [matrix.rows, matrix.cols]
    }
  }

  /// The storage, as ggml names it: `f32`, `q8_0`, `q4_0`, `q4_K`, ….
  public var formatName: String {
    switch self {
    case .dense: "f32"
    case .q8_0: "q8_0"
    case .lora(let adapter): adapter.base.formatName
    case .ggml(let matrix, _): matrix.format.rawValue
    }
  }

  /// Whether the weight is stored quantized (q8_0 or ggml blocks).
  public var isQuantized: Bool {
    switch self {
    case .dense: false
    case .q8_0: true
    case .lora(let adapter): adapter.base.isQuantized
    case .ggml: true
    }
  }

  /// Whether a tape can train this weight (only `Float` weights can; adapted weights train
  /// their adapters).
  public var isTrainable: Bool {
    switch self {
    case .dense: true
    case .q8_0: false
    case .lora: true
    case .ggml: false
    }
  }

  /// Bytes a product with one input row reads.
  public var byteCount: Int {
    switch self {
    case .dense(let parameter): 4 * parameter.count
    case .q8_0(let matrix, _): matrix.byteCount
    case .lora(let adapter): adapter.base.byteCount + 4 * (adapter.a.count + adapter.b.count)
    case .ggml(let matrix, _): matrix.byteCount
    }
  }

  /// Input rows up to which an inference product of a `Float` weight takes the multi-row
  /// kernels (``rowInvariantProduct(_:)``) rather than `sgemm`.
  static let multiRowLimit = 24

  /// Whether `x · Wᵀ` for a `Float` `weight` is an inference product of at most
  /// ``multiRowLimit`` rows (no tape).
  static func takesMultiRowKernels(_ x: Variable, _ weight: Tensor) -> Bool {
    x.tape == nil && x.count <= multiRowLimit * weight.shape[1]
  }

  /// `x · Wᵀ` for `x` `[…, in]`, result `[…, out]`.
  /// - Parameters:
  ///   - x: the input.
  ///   - tape: records the product for training when given.
  /// - Precondition: with a tape, or with `x` on one, the weight is trainable.
  public func callAsFunction(_ x: Variable, tape: Tape?) -> Variable {
    switch self {
    case .dense(let parameter):
      // Inference on a few rows (a chat prompt's prefill): the multi-row kernels read each
      // weight once for every row, where `sgemm` packs the whole weight first.
      if tape == nil && Self.takesMultiRowKernels(x, parameter.value) {
        return Variable(MiniTensor.rowInvariantLinear(x.value, parameter.value))
      }
      return linear(x, parameter.variable(on: tape))
    case .q8_0(let matrix, let name):
      precondition(
        tape == nil && x.tape == nil,
        "\(name) is q8_0, for inference only: train the Float model, then call quantized()")
      return Variable(matrix.linear(x.value))
    case .lora(let adapter):
      return adapter(x, tape: tape)
    case .ggml(let matrix, let name):
      if tape == nil && x.tape == nil { return Variable(matrix.linear(x.value)) }
      // Under a tape the blocks are a frozen base (adapters train elsewhere): gradients flow
      // to the input only.
      precondition(
        matrix.computesInFloat,
        "\(name) is \(matrix.format.rawValue), for inference only: it cannot be trained")
      return frozenProduct(x, self)
    }
  }

  /// `x · Wᵀ` for inference with every row of `x` computed exactly as a one-row product
  /// computes it (the decoding kernels), bit for bit, whatever the other rows: what a batch of
  /// independent sequences decodes with, so that each gets the reply it would get alone.
  public func rowInvariantProduct(_ x: Tensor) -> Tensor {
    switch self {
    case .dense(let parameter): MiniTensor.rowInvariantLinear(x, parameter.value)
    case .q8_0(let matrix, _): matrix.rowInvariantLinear(x)
    case .ggml(let matrix, _): matrix.rowInvariantLinear(x)
    case .lora:
      // The adapters' small products one row at a time (each a one-row product already).
      rowByRow(x)
    }
  }

  private func rowByRow(_ x: Tensor) -> Tensor {
    let cols = x.shape[x.rank - 1]
    let flat = x.reshaped([-1, cols])
    let rows = (0..<flat.shape[0]).map { row in
      self(Variable(flat[row: row].reshaped([1, cols])), tape: nil).value
    }
    return Tensor.concatenate(rows, axis: 0).reshaped(Array(x.shape.dropLast()) + [shape[0]])
  }

  /// The weight as q8_0 when its input size is whole blocks of 32, else itself.
  public func quantizedQ8() -> LinearWeight {
    switch self {
    case .dense(let parameter) where Q8Matrix.canQuantize(parameter.shape):
      .q8_0(Q8Matrix(parameter.value), name: parameter.name)
    case .dense, .q8_0, .lora, .ggml: self
    }
  }
}
