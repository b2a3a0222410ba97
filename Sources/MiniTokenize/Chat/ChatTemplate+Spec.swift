import Foundation

/// JSON keys of a template spec; unknown keys are rejected so a misspelt one is not ignored.
extension ChatTemplate: Codable {
  enum CodingKeys: String, CodingKey, CaseIterable {
    case name, system, user, assistant, tool, eos
    case afterEOS = "after_eos"
    case specialTokens = "special_tokens"
    case addsBOS = "bos"
  }

  public init(from decoder: any Decoder) throws {
    try rejectUnknownKeys(in: decoder, known: CodingKeys.allCases.map(\.rawValue))
    let keyed = try decoder.container(keyedBy: CodingKeys.self)
    self.init(
      name: try keyed.decode(String.self, forKey: .name),
      system: try keyed.decodeIfPresent(RoleFormat.self, forKey: .system),
      user: try keyed.decode(RoleFormat.self, forKey: .user),
      assistant: try keyed.decode(RoleFormat.self, forKey: .assistant),
      tool: try keyed.decodeIfPresent(RoleFormat.self, forKey: .tool),
      eos: try keyed.decode(String.self, forKey: .eos),
      afterEOS: try keyed.decodeIfPresent(String.self, forKey: .afterEOS) ?? "",
      specialTokens: try keyed.decodeIfPresent([String].self, forKey: .specialTokens) ?? [],
      addsBOS: try keyed.decodeIfPresent(Bool.self, forKey: .addsBOS) ?? false)
    if let problem = validationProblem {
      throw DecodingError.dataCorrupted(
        .init(codingPath: decoder.codingPath, debugDescription: problem))
    }
  }

  public func encode(to encoder: any Encoder) throws {
    var container = encoder.container(keyedBy: CodingKeys.self)
    try container.encode(name, forKey: .name)
    try container.encodeIfPresent(system, forKey: .system)
    try container.encode(user, forKey: .user)
    try container.encode(assistant, forKey: .assistant)
    try container.encodeIfPresent(tool, forKey: .tool)
    try container.encode(eos, forKey: .eos)
    try container.encode(afterEOS, forKey: .afterEOS)
    try container.encode(specialTokens, forKey: .specialTokens)
    try container.encode(addsBOS, forKey: .addsBOS)
  }

  /// What makes the spec unusable, or `nil`.
  var validationProblem: String? {
    if name.isEmpty { return "'name' is empty" }
    if eos.isEmpty { return "'eos' is empty: the assistant's replies need an end token" }
    if user.prefix.isEmpty && assistant.prefix.isEmpty {
      return "'user.prefix' and 'assistant.prefix' are both empty: turns could not be told apart"
    }
    if specialTokens.contains(where: \.isEmpty) {
      return "'special_tokens' holds an empty string"
    }
    return nil
  }

  /// Reads a template spec from a JSON file.
  /// - Throws: `ChatTemplateError.invalidSpec` naming the file and the key at fault.
  public init(contentsOf path: String) throws(ChatTemplateError) {
    guard let data = FileManager.default.contents(atPath: path) else {
      throw .invalidSpec(path: path, message: "cannot read the file")
    }
    do {
      self = try JSONDecoder().decode(ChatTemplate.self, from: data)
    } catch let error as DecodingError {
      throw .invalidSpec(path: path, message: Self.describe(error))
    } catch {
      throw .invalidSpec(path: path, message: "\(error)")
    }
  }

  /// A built-in template by name (`chatml`, `human-robot`), or else a JSON spec file.
  /// - Throws: `ChatTemplateError.invalidSpec` for an unknown name or a bad file.
  public static func named(_ nameOrPath: String) throws(ChatTemplateError) -> ChatTemplate {
    if let template = builtIn[nameOrPath] { return template }
    guard FileManager.default.fileExists(atPath: nameOrPath) else {
      throw .invalidSpec(
        path: nameOrPath,
        message: "not a built-in template (\(builtIn.keys.sorted().joined(separator: ", "))) "
          + "nor a readable JSON spec file")
    }
    return try ChatTemplate(contentsOf: nameOrPath)
  }

  private static func describe(_ error: DecodingError) -> String {
    func path(_ context: DecodingError.Context) -> String {
      let keys = context.codingPath.map(\.stringValue).joined(separator: ".")
      return keys.isEmpty ? "" : "'\(keys)': "
    }
    switch error {
    case .keyNotFound(let key, let context):
      let parent = context.codingPath.map(\.stringValue) + [key.stringValue]
      return "missing key '\(parent.joined(separator: "."))'"
    case .typeMismatch(let type, let context):
      return "\(path(context))expected \(type): \(context.debugDescription)"
    case .valueNotFound(let type, let context):
      return "\(path(context))expected \(type), found null"
    case .dataCorrupted(let context):
      return "\(path(context))\(context.debugDescription)"
    @unknown default:
      return "\(error)"
    }
  }
}

extension ChatTemplate.RoleFormat {
  enum CodingKeys: String, CodingKey, CaseIterable {
    case prefix, suffix
  }

  public init(from decoder: any Decoder) throws {
    try rejectUnknownKeys(in: decoder, known: CodingKeys.allCases.map(\.rawValue))
    let container = try decoder.container(keyedBy: CodingKeys.self)
    self.init(
      prefix: try container.decode(String.self, forKey: .prefix),
      suffix: try container.decodeIfPresent(String.self, forKey: .suffix) ?? "")
  }

  public func encode(to encoder: any Encoder) throws {
    var container = encoder.container(keyedBy: CodingKeys.self)
    try container.encode(prefix, forKey: .prefix)
    try container.encode(suffix, forKey: .suffix)
  }
}

/// Throws when the decoder's object has a key outside `known`.
private func rejectUnknownKeys(in decoder: any Decoder, known: [String]) throws {
  let container = try decoder.container(keyedBy: AnyKey.self)
  let knownSet = Set(known)
  if let unknown = container.allKeys.map(\.stringValue).filter({ !knownSet.contains($0) }).sorted()
    .first
  {
    throw DecodingError.dataCorruptedError(
      forKey: AnyKey(unknown), in: container,
      debugDescription:
        "unknown key '\(unknown)' (known: \(known.sorted().joined(separator: ", ")))"
    )
  }
}

/// A coding key for any string, to list a container's keys.
private struct AnyKey: CodingKey {
  var stringValue: String
  var intValue: Int? { nil }
  init(_ string: String) { stringValue = string }
  init?(stringValue: String) { self.stringValue = stringValue }
  init?(intValue: Int) { nil }
}
