extension CorpusFormat {
  /// Decodes a pretraining record; `textColumn` is the member holding a `jsonl`/`json`
  /// record's text.
  func decodeDocument(_ fields: RecordFields, textColumn: String = "text") throws(RecordRejection)
    -> Document
  {
    let text: String
    switch self {
    case .jsonl, .json:
      text = try fields.string(textColumn)
    case .wikipediaCN:
      text = try fields.string("completion")
    case .wudao:
      let title = try fields.optionalString("title") ?? ""
      let content = try fields.string("content")
      text = title.isEmpty ? content : "\(title)\n\(content)"
    case .baike:
      text = try Self.baikeText(fields)
    default:
      preconditionFailure("decodeDocument: \(self) is not a document format")
    }
    try requireNonEmpty(text, field: "text")
    return Document(text: text)
  }

  /// BaiduBaiKe's text as baby-llama2-chinese builds it: `title: summary`, then `title: content。` for each
  /// section.
  private static func baikeText(_ fields: RecordFields) throws(RecordRejection) -> String {
    var text = ""
    if let title = try fields.optionalString("title"),
      let summary = try fields.optionalString("summary")
    {
      text += "\(title): \(summary)"
    }
    for (index, value) in try fields.array("sections").enumerated() {
      let section = try RecordFields.element(value, of: "sections", at: index)
      text += "\(try section.string("title")): \(try section.string("content"))。"
    }
    return text
  }
}
