/// A pretraining document: one text, tokenised whole and followed by EOS.
public struct Document: Sendable, Equatable {
  /// The text.
  public var text: String

  /// Creates a document.
  public init(text: String) { self.text = text }
}

/// Who speaks a message.
public enum Role: String, Sendable, Equatable, Codable, CaseIterable {
  /// Instructions that frame the conversation.
  case system
  /// The human.
  case user
  /// The model.
  case assistant
  /// A tool's answer (ShareGPT `observation`).
  case tool
}

/// One turn of a conversation.
public struct Message: Sendable, Equatable {
  /// The speaker.
  public var role: Role
  /// The text.
  public var content: String

  /// Creates a message.
  public init(role: Role, content: String) {
    self.role = role
    self.content = content
  }
}

/// A supervised fine-tuning sample: an optional system prompt and alternating messages.
public struct Conversation: Sendable, Equatable {
  /// The system prompt, if the record has one.
  public var system: String?
  /// The turns, in order (never `.system`).
  public var messages: [Message]

  /// Creates a conversation.
  public init(system: String? = nil, messages: [Message]) {
    self.system = system
    self.messages = messages
  }
}

/// A preference sample: a prompt conversation and two candidate replies, the preferred first.
public struct PreferencePair: Sendable, Equatable {
  /// The conversation so far, ending with the user's turn.
  public var prompt: Conversation
  /// The preferred reply.
  public var chosen: String
  /// The rejected reply.
  public var rejected: String

  /// Creates a preference pair.
  public init(prompt: Conversation, chosen: String, rejected: String) {
    self.prompt = prompt
    self.chosen = chosen
    self.rejected = rejected
  }
}

/// A record of any corpus, normalised.
public enum CorpusRecord: Sendable, Equatable {
  /// A pretraining document.
  case document(Document)
  /// An SFT conversation.
  case conversation(Conversation)
  /// A preference pair.
  case preference(PreferencePair)

  /// The record's kind.
  public var kind: RecordKind {
    switch self {
    case .document: .document
    case .conversation: .conversation
    case .preference: .preference
    }
  }
}

/// What a corpus holds.
public enum RecordKind: String, Sendable, Equatable, Codable {
  /// Pretraining documents.
  case document
  /// SFT conversations.
  case conversation
  /// Preference pairs.
  case preference
}

/// Why a record was skipped.
public enum RejectReason: String, Sendable, Codable, CaseIterable, Comparable {
  /// The record is not valid JSON.
  case invalidJSON = "invalid_json"
  /// The record's bytes are not valid UTF-8 (or a JSON escape is an unpaired surrogate).
  case invalidUTF8 = "invalid_utf8"
  /// A field the format needs is absent (or a TSV line has too few columns).
  case missingField = "missing_field"
  /// A field has the wrong JSON type.
  case wrongType = "wrong_type"
  /// The text (or a needed message) is empty or only whitespace.
  case emptyText = "empty_text"

  public static func < (a: Self, b: Self) -> Bool { a.rawValue < b.rawValue }
}

/// A skipped record: the reason, and the field concerned when there is one.
public struct RecordRejection: Error, Sendable, Equatable {
  /// Why.
  public var reason: RejectReason
  /// A description naming the field or position.
  public var detail: String

  /// Creates a rejection.
  public init(_ reason: RejectReason, _ detail: String) {
    self.reason = reason
    self.detail = detail
  }
}

extension RejectReason: CodingKeyRepresentable {}
