import MiniSupport

extension SentencePieceTokenizer {
  /// Why ``tokenizerJSON(addsBOS:addsEOS:)`` cannot mirror this model, or `nil` when it can.
  ///
  /// Mirrored: BPE and unigram models with identity normalisation (no precompiled character
  /// map), spaces escaped as `▁` at the front of pieces, extra whitespace kept, with or without
  /// the dummy prefix and byte fallback.
  public var tokenizerJSONUnsupportedReason: String? {
    guard let proto = SentencePieceModelProto(bytes: modelBytes) else {
      return "the model cannot be parsed"
    }
    if proto.modelType != 1 && proto.modelType != 2 {
      return "model_type \(proto.modelType) is neither unigram nor BPE"
    }
    if !proto.charsmapIsEmpty { return "the normalizer has a precompiled character map" }
    if proto.removeExtraWhitespaces { return "remove_extra_whitespaces is on" }
    if !proto.escapeWhitespaces { return "escape_whitespaces is off" }
    if proto.treatWhitespaceAsSuffix { return "treat_whitespace_as_suffix is on" }
    return nil
  }

  /// The ids `tokenizer.json` lists as added tokens: the unknown, control and user-defined pieces.
  public var addedTokenIDs: [Int] {
    guard let proto = SentencePieceModelProto(bytes: modelBytes) else { return [] }
    let added: Set<SentencePieceModelProto.PieceType> = [.unknown, .control, .userDefined]
    return proto.pieces.indices.filter { added.contains(proto.pieces[$0].type) }
  }

  /// A Hugging Face `tokenizer.json` that encodes and decodes as this model: what
  /// `AutoTokenizer.from_pretrained` loads from a directory we write, so `transformers` and
  /// `tokenizers` give our ids without converting `tokenizer.model`.
  ///
  /// - The model is `BPE` (the vocabulary, and merges ordered by the merged piece's id, then by
  ///   the length of the left half, as `transformers`' converter orders them) or `Unigram`
  ///   (pieces and scores), with `byte_fallback` as the model has it.
  /// - Unknown, control and user-defined pieces are added tokens (all special, matched on the raw
  ///   text), as sentencepiece keeps user-defined pieces whole.
  /// - Spaces become `▁` in the normalizer, which also prepends `▁` when the model adds a dummy
  ///   prefix — except for a model with both a dummy prefix and user-defined pieces, where the
  ///   prefix comes from a `Metaspace` pre-tokenizer (prepended to the start of the text only);
  ///   there `tokenizers` differs from sentencepiece for text beginning with a space or with a
  ///   user-defined piece.
  /// - The decoder turns `▁` back into spaces, fuses byte pieces and, with a dummy prefix, strips
  ///   the first leading space.
  /// - The post-processor adds BOS and EOS as `addsBOS` and `addsEOS` say.
  /// - Returns: the file's bytes, or `nil` when ``tokenizerJSONUnsupportedReason`` is not `nil`.
  public func tokenizerJSON(addsBOS: Bool, addsEOS: Bool) -> [UInt8]? {
    guard tokenizerJSONUnsupportedReason == nil,
      let proto = SentencePieceModelProto(bytes: modelBytes)
    else { return nil }
    let pieces = proto.pieces.map { String(decoding: $0.text, as: UTF8.self) }
    let unknownID = proto.pieces.firstIndex { $0.type == .unknown } ?? 0
    let hasUserDefined = proto.pieces.contains { $0.type == .userDefined }
    let usesMetaspace = proto.addDummyPrefix && hasUserDefined

    var json = "{\n  \"version\": \"1.0\",\n  \"truncation\": null,\n  \"padding\": null,\n"
    json += "  \"added_tokens\": ["
    for (index, id) in addedTokenIDs.enumerated() {
      json += index == 0 ? "\n" : ",\n"
      json += "    {\"id\": \(id), \"content\": \(jsonStringLiteral(pieces[id])), "
      json += "\"single_word\": false, \"lstrip\": false, \"rstrip\": false, "
      json += "\"normalized\": false, \"special\": true}"
    }
    json += "\n  ],\n"
    let replaceSpace = #"{"type": "Replace", "pattern": {"String": " "}, "content": "▁"}"#
    if usesMetaspace {
      json += "  \"normalizer\": null,\n"
      json += "  \"pre_tokenizer\": {\"type\": \"Metaspace\", \"replacement\": \"▁\", "
      json += "\"prepend_scheme\": \"first\", \"split\": false},\n"
    } else {
      let prepend = proto.addDummyPrefix ? #"{"type": "Prepend", "prepend": "▁"}, "# : ""
      json +=
        "  \"normalizer\": {\"type\": \"Sequence\", \"normalizers\": [\(prepend)\(replaceSpace)]},\n"
      json += "  \"pre_tokenizer\": null,\n"
    }
    json += "  \"post_processor\": \(postProcessor(addsBOS: addsBOS, addsEOS: addsEOS, pieces)),\n"
    var decoders = [
      #"{"type": "Replace", "pattern": {"String": "▁"}, "content": " "}"#,
      #"{"type": "ByteFallback"}"#, #"{"type": "Fuse"}"#,
    ]
    if proto.addDummyPrefix {
      decoders.append(#"{"type": "Strip", "content": " ", "start": 1, "stop": 0}"#)
    }
    json +=
      "  \"decoder\": {\"type\": \"Sequence\", \"decoders\": [\(decoders.joined(separator: ", "))]},\n"
    let byteFallback = proto.byteFallback ? "true" : "false"
    if proto.modelType == 1 {
      json += "  \"model\": {\"type\": \"Unigram\", \"unk_id\": \(unknownID), "
      json += "\"byte_fallback\": \(byteFallback), \"vocab\": ["
      for (id, piece) in pieces.enumerated() {
        json += id == 0 ? "\n" : ",\n"
        json += "    [\(jsonStringLiteral(piece)), \(Double(proto.pieces[id].score))]"
      }
      json += "\n  ]}\n}\n"
      return Array(json.utf8)
    }
    json += "  \"model\": {\"type\": \"BPE\", \"dropout\": null, "
    json += "\"unk_token\": \(jsonStringLiteral(pieces[unknownID])), "
    json += "\"continuing_subword_prefix\": null, \"end_of_word_suffix\": null, "
    json += "\"fuse_unk\": true, \"byte_fallback\": \(byteFallback), \"ignore_merges\": false,\n"
    json += "    \"vocab\": {"
    for (id, piece) in pieces.enumerated() {
      json += id == 0 ? "\n" : ",\n"
      json += "      \(jsonStringLiteral(piece)): \(id)"
    }
    json += "\n    },\n    \"merges\": ["
    for (index, merge) in Self.merges(proto, pieces).enumerated() {
      json += index == 0 ? "\n" : ",\n"
      json += "      [\(jsonStringLiteral(merge.left)), \(jsonStringLiteral(merge.right))]"
    }
    json += "\n    ]\n  }\n}\n"
    return Array(json.utf8)
  }

  /// The BPE merges that rebuild every normal piece from two normal pieces: sentencepiece merges
  /// the adjacent pair whose result scores highest (pieces are stored by falling score), so a
  /// merge's rank is its result's id; among the splits of one piece, the shorter left half first.
  private static func merges(_ proto: SentencePieceModelProto, _ pieces: [String]) -> [(
    left: String, right: String
  )] {
    // Keyed by UTF-8 bytes: String equality would merge canonically equivalent pieces
    // ("é" precomposed and decomposed), which sentencepiece keeps apart.
    var normalIDs: [[UInt8]: Int] = [:]
    for (id, piece) in proto.pieces.enumerated() where piece.type == .normal {
      normalIDs[piece.text] = id
    }
    var merges: [(left: String, right: String)] = []
    for (id, piece) in proto.pieces.enumerated() where piece.type == .normal {
      let scalars = Array(pieces[id].unicodeScalars)
      guard scalars.count > 1 else { continue }
      var local: [(leftLength: Int, leftID: Int, rightID: Int, left: String, right: String)] = []
      for split in 1..<scalars.count {
        var left = String.UnicodeScalarView()
        left.append(contentsOf: scalars[..<split])
        var right = String.UnicodeScalarView()
        right.append(contentsOf: scalars[split...])
        let (leftText, rightText) = (String(left), String(right))
        if let leftID = normalIDs[Array(leftText.utf8)],
          let rightID = normalIDs[Array(rightText.utf8)]
        {
          local.append((split, leftID, rightID, leftText, rightText))
        }
      }
      // transformers sorts by the halves' ids, then (stably) by the left half's length.
      local.sort { ($0.leftLength, $0.leftID, $0.rightID) < ($1.leftLength, $1.leftID, $1.rightID) }
      merges += local.map { ($0.left, $0.right) }
    }
    return merges
  }

  private func postProcessor(addsBOS: Bool, addsEOS: Bool, _ pieces: [String]) -> String {
    var single: [String] = []
    var specials: [Int] = []
    func special(_ id: Int) -> String {
      if !specials.contains(id) { specials.append(id) }
      return "{\"SpecialToken\": {\"id\": \(jsonStringLiteral(pieces[id])), \"type_id\": 0}}"
    }
    if addsBOS, let bos = specialIDs.bos, bos < pieces.count { single.append(special(bos)) }
    single.append(#"{"Sequence": {"id": "A", "type_id": 0}}"#)
    if addsEOS, let eos = specialIDs.eos, eos < pieces.count { single.append(special(eos)) }
    let pair = single + [#"{"Sequence": {"id": "B", "type_id": 1}}"#]
    let table = specials.map { id in
      let name = jsonStringLiteral(pieces[id])
      return "\(name): {\"id\": \(name), \"ids\": [\(id)], \"tokens\": [\(name)]}"
    }
    return "{\"type\": \"TemplateProcessing\", \"single\": [\(single.joined(separator: ", "))], "
      + "\"pair\": [\(pair.joined(separator: ", "))], "
      + "\"special_tokens\": {\(table.joined(separator: ", "))}}"
  }
}
