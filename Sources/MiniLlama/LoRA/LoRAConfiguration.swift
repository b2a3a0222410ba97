import Foundation

/// The settings of low-rank adapters (LoRA, Hu et al. 2021) as PEFT's `LoraConfig` names them:
/// rank `r`, `lora_alpha`, `lora_dropout`, `target_modules` and `use_rslora`.
///
/// An adapted projection computes `y = x · Wᵀ + scale · dropout(x) · Aᵀ · Bᵀ` with the base `W`
/// frozen, `A` `[r, in]` and `B` `[out, r]` trained, and `scale = alpha / r` (or
/// `alpha / √r` with rsLoRA).
public struct LoRAConfiguration: Sendable, Equatable, Codable {
  /// The projections a Llama layer has, in Hugging Face order; the default targets.
  public static let projectionNames = [
    "q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj",
  ]

  /// Rank `r` of each adapter.
  public var rank: Int
  /// `lora_alpha`.
  public var alpha: Double
  /// Probability of zeroing each input element of an adapter while training (`lora_dropout`).
  public var dropout: Double
  /// The adapted projections, by module name (`q_proj`, …, `down_proj`).
  public var targets: [String]
  /// Whether the scale is `alpha / √r` (rank-stabilised LoRA) rather than `alpha / r`.
  public var useRSLoRA: Bool

  enum CodingKeys: String, CodingKey {
    case rank, alpha, dropout, targets
    case useRSLoRA = "use_rslora"
  }

  /// Settings of rank `rank`; `alpha` defaults to `2 · rank`, as LLaMA-Factory's does.
  public init(
    rank: Int, alpha: Double? = nil, dropout: Double = 0,
    targets: [String] = LoRAConfiguration.projectionNames, useRSLoRA: Bool = false
  ) {
    self.rank = rank
    self.alpha = alpha ?? Double(2 * rank)
    self.dropout = dropout
    self.targets = targets
    self.useRSLoRA = useRSLoRA
  }

  /// The factor applied to each adapter's product.
  public var scale: Float {
    Float(useRSLoRA ? alpha / Double(rank).squareRoot() : alpha / Double(rank))
  }

  /// Checks the settings.
  /// - Throws: ``LoRAConfigurationError`` naming the setting at fault.
  public func validate() throws(LoRAConfigurationError) {
    guard rank > 0 else { throw .invalid(key: "r", "must be a positive integer, got \(rank)") }
    guard alpha.isFinite && alpha > 0 else {
      throw .invalid(key: "lora_alpha", "must be a positive number, got \(alpha)")
    }
    guard dropout.isFinite && dropout >= 0 && dropout < 1 else {
      throw .invalid(key: "lora_dropout", "must be in [0, 1), got \(dropout)")
    }
    guard !targets.isEmpty else { throw .invalid(key: "target_modules", "is empty") }
    for target in targets where !Self.projectionNames.contains(target) {
      throw .invalid(
        key: "target_modules",
        "'\(target)' is not a projection of a Llama layer (one of "
          + Self.projectionNames.joined(separator: ", ") + ")")
    }
    guard Set(targets).count == targets.count else {
      throw .invalid(key: "target_modules", "names a module twice: \(targets)")
    }
  }

  /// The module name of the projection weight `name` (`q_proj` of
  /// `model.layers.0.self_attn.q_proj.weight`) when it is one of ``targets``.
  public func target(ofWeight name: String) -> String? {
    let parts = name.split(separator: ".")
    guard parts.count >= 2, parts.first == "model", parts.last == "weight" else { return nil }
    let module = String(parts[parts.count - 2])
    return targets.contains(module) ? module : nil
  }
}

/// Why a LoRA configuration or adapter was refused.
public struct LoRAConfigurationError: Error, Equatable, CustomStringConvertible {
  /// The file, when the settings came from one.
  public var path: String?
  /// The setting at fault (PEFT's key).
  public var key: String
  /// What is wrong.
  public var message: String

  /// An invalid setting.
  public static func invalid(key: String, _ message: String) -> Self {
    Self(path: nil, key: key, message: message)
  }

  /// The file (if any), the key and the fault in one line.
  public var description: String {
    (path.map { "\($0): " } ?? "") + "\(key) \(message)"
  }
}
