/// Why a chat template cannot be used, or a conversation cannot be rendered with it.
public enum ChatTemplateError: Error, Equatable, CustomStringConvertible {
  /// A template spec file is unreadable or invalid.
  case invalidSpec(path: String, message: String)
  /// A token the template keeps whole is not a single piece of the tokenizer.
  case missingSpecialToken(template: String, token: String)
  /// The template has no format for a role the conversation uses.
  case unsupportedRole(template: String, role: Role)
  /// A prompt to answer must end with the user's turn.
  case promptDoesNotEndWithUser

  public var description: String {
    switch self {
    case .invalidSpec(let path, let message):
      return "\(path): invalid chat template: \(message)"
    case .missingSpecialToken(let template, let token):
      return
        "template \(template) needs '\(token)' as a single token, but the tokenizer has no such "
        + "piece (train the tokenizer with --special '\(token)', or choose another template)"
    case .unsupportedRole(let template, let role):
      return "template \(template) has no format for \(role.rawValue) messages"
    case .promptDoesNotEndWithUser:
      return "a prompt to answer must end with the user's message"
    }
  }
}
