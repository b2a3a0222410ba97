/// A conversation as token ids and a loss mask, from `ChatRenderer.render(_:generationPrompt:)`.
///
/// `lossMask[i] == 1` means `ids[i]` is a token the model learns to produce (predicted from the
/// tokens before it): the assistant's replies, their suffix and end-of-turn token. A trainer
/// shifts by one: the logits at position `t` are scored against `ids[t + 1]` with weight
/// `lossMask[t + 1]`.
public struct RenderedChat: Sendable, Equatable {
  /// The token ids.
  public var ids: [Int32]
  /// 1 for supervised tokens, 0 for context; as long as `ids`.
  public var lossMask: [UInt8]
  /// How many leading tokens are the header (BOS and system prompt), kept by every truncation.
  public var headerCount: Int
  /// Where each exchange starts: a user message and the replies up to the next user message
  /// (messages before the first user message belong to the first exchange).
  public var exchangeStarts: [Int]

  /// Creates a rendered conversation.
  public init(ids: [Int32], lossMask: [UInt8], headerCount: Int, exchangeStarts: [Int]) {
    precondition(
      ids.count == lossMask.count,
      "RenderedChat: \(ids.count) ids but \(lossMask.count) mask values")
    precondition(
      headerCount <= ids.count
        && exchangeStarts.allSatisfy { $0 >= headerCount && $0 <= ids.count },
      "RenderedChat: header \(headerCount), exchanges \(exchangeStarts), \(ids.count) ids")
    self.ids = ids
    self.lossMask = lossMask
    self.headerCount = headerCount
    self.exchangeStarts = exchangeStarts
  }

  /// Number of supervised tokens.
  public var supervisedCount: Int { lossMask.reduce(0) { $0 + Int($1) } }

  /// The header and the latest exchanges that fit in `maxTokens` tokens, dropping the oldest
  /// exchanges first; `nil` when even the header and the last exchange do not fit.
  /// - Returns: the shortened conversation and how many exchanges were dropped (0 when it
  ///   already fit).
  public func keepingLatestExchanges(fitting maxTokens: Int) -> (
    chat: RenderedChat, droppedExchanges: Int
  )? {
    if ids.count <= maxTokens { return (self, 0) }
    let budget = maxTokens - headerCount
    guard budget > 0 else { return nil }
    // The earliest exchange start whose tail fits.
    guard
      let keep = exchangeStarts.indices.first(where: { ids.count - exchangeStarts[$0] <= budget })
    else { return nil }
    let start = exchangeStarts[keep]
    let shift = start - headerCount
    let chat = RenderedChat(
      ids: Array(ids[..<headerCount] + ids[start...]),
      lossMask: Array(lossMask[..<headerCount] + lossMask[start...]),
      headerCount: headerCount,
      exchangeStarts: exchangeStarts[keep...].map { $0 - shift })
    return (chat, keep)
  }
}
