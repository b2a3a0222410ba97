import Foundation
import MiniTokenize
import TestSupport
import Testing

/// Reads every record of a file.
func readAll(_ path: String, format: CorpusFormat? = nil, placeholders: [String: String] = [:])
  throws -> (records: [CorpusRecord], reader: CorpusReader)
{
  let reader = try CorpusReader(path: path, format: format, placeholders: placeholders)
  var records: [CorpusRecord] = []
  while let record = try reader.next() { records.append(record) }
  return (records, reader)
}

@Suite("CorpusReader: shared samples")
struct CorpusSampleTests {
  struct Sample: Sendable, CustomStringConvertible {
    let file: String
    let format: CorpusFormat
    let records: Int
    var description: String { file }
  }

  // Record counts as documented in ../shared/corpora/README.md.
  static let samples = [
    Sample(file: "c4_demo.jsonl", format: .jsonl, records: 300),
    Sample(file: "wiki_demo.txt", format: .text, records: 30),
    Sample(file: "alpaca_zh_demo.json", format: .alpaca, records: 1_000),
    Sample(file: "alpaca_en_demo.json", format: .alpaca, records: 999),
    Sample(file: "identity.json", format: .alpaca, records: 91),
    Sample(file: "glaive_toolcall_zh_demo.json", format: .sharegpt, records: 300),
    Sample(file: "kto_en_demo.json", format: .minimind, records: 300),
    Sample(file: "dpo_zh_demo.json", format: .sharegptPreference, records: 300),
    Sample(file: "dpo_en_demo.json", format: .sharegptPreference, records: 300),
  ]

  @Test(
    "Each sample is detected, read completely and nothing is rejected",
    .requires(.shared("corpora")), arguments: samples)
  func sample(_ sample: Sample) throws {
    let path = try requireShared("corpora/\(sample.file)")
    #expect(try CorpusReader.detectFormat(path: path) == sample.format)
    let (records, reader) = try readAll(path)
    #expect(records.count == sample.records)
    #expect(reader.statistics.records == sample.records)
    #expect(reader.statistics.rejected.isEmpty, "\(reader.statistics.firstRejections)")
    #expect(records.allSatisfy { $0.kind == sample.format.kind })
  }

  @Test(
    "Field mapping on the samples agrees with Foundation's reading of the same files",
    .requires(.shared("corpora")))
  func fieldMapping() throws {
    let alpacaPath = try requireShared("corpora/alpaca_zh_demo.json")
    let dpoPath = try requireShared("corpora/dpo_zh_demo.json")
    let c4Path = try requireShared("corpora/c4_demo.jsonl")
    let identityPath = try requireShared("corpora/identity.json")
    let alpaca = try #require(
      try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: alpacaPath)))
        as? [[String: String]])
    let (records, _) = try readAll(alpacaPath)
    for (record, raw) in zip(records, alpaca) {
      let input = raw["input"] ?? ""
      let prompt = input.isEmpty ? raw["instruction"]! : raw["instruction"]! + "\n" + input
      #expect(
        record
          == .conversation(
            Conversation(messages: [
              Message(role: .user, content: prompt),
              Message(role: .assistant, content: raw["output"]!),
            ])))
    }

    let dpo = try #require(
      try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dpoPath)))
        as? [[String: Any]])
    let (pairs, _) = try readAll(dpoPath)
    for (record, raw) in zip(pairs, dpo) {
      guard case .preference(let pair) = record else {
        Issue.record("not a pair")
        continue
      }
      let messages = raw["conversations"] as! [[String: String]]
      let system = messages.first { $0["from"] == "system" }?["value"]
      #expect(pair.prompt.system == system)
      #expect(
        pair.prompt.messages.map(\.content)
          == messages.filter { $0["from"] != "system" }.map { $0["value"]! })
      #expect(pair.chosen == (raw["chosen"] as! [String: String])["value"])
      #expect(pair.rejected == (raw["rejected"] as! [String: String])["value"])
    }

    let c4Lines = try String(contentsOfFile: c4Path, encoding: .utf8).split(separator: "\n")
    let (documents, _) = try readAll(c4Path)
    for (record, line) in zip(documents, c4Lines) {
      let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as! [String: Any]
      #expect(record == .document(Document(text: object["text"] as! String)))
    }

    let (identity, _) = try readAll(
      identityPath, placeholders: ["name": "小迷你", "author": "MiniLLM"])
    let texts = identity.compactMap { record -> String? in
      guard case .conversation(let conversation) = record else { return nil }
      return conversation.messages.map(\.content).joined()
    }
    #expect(texts.count == 91)
    #expect(texts.allSatisfy { !$0.contains("{{name}}") && !$0.contains("{{author}}") })
    #expect(texts.filter { $0.contains("小迷你") }.count == 77)
  }
}

@Suite("CorpusReader: hand-written fixtures")
struct CorpusFixtureTests {
  @Test("wikipedia-cn: pretty-printed JSON array of completions, escapes decoded")
  func wikipediaCN() throws {
    let path = fixturePath("wikipedia-cn.json")
    #expect(try CorpusReader.detectFormat(path: path) == .wikipediaCN)
    let (records, _) = try readAll(path)
    #expect(records.count == 3)
    #expect(records[1] == .document(Document(text: "长江是亚洲第一长河，\n全长6300余公里。")))
    #expect(records[2] == .document(Document(text: "含有转义的文本：\"引号\"、反斜杠\\和中文以及😀")))
  }

  @Test("BaiduBaiKe: title, summary and sections joined as baby-llama2-chinese does")
  func baike() throws {
    let path = fixturePath("baike.jsonl")
    #expect(try CorpusReader.detectFormat(path: path) == .baike)
    let (records, _) = try readAll(path)
    #expect(
      records == [
        .document(Document(text: "红烧肉: 一道著名的家常菜。做法: 五花肉切块，焯水后炒糖色。特点: 肥而不腻。")),
        .document(Document(text: "长城: 中国古代的军事防御工程。")),
        .document(Document(text: "故宫: 明清两代的皇家宫殿。历史: 始建于明成祖永乐四年。")),
      ])
  }

  @Test("WuDao: JSON array of title + content")
  func wudao() throws {
    let path = fixturePath("wudao.json")
    #expect(try CorpusReader.detectFormat(path: path) == .wudao)
    let (records, _) = try readAll(path)
    #expect(
      records == [
        .document(Document(text: "春天\n春天来了，万物复苏。")), .document(Document(text: "没有标题的正文。")),
      ])
  }

  @Test("firefly: input → user, target → assistant")
  func firefly() throws {
    let path = fixturePath("firefly.jsonl")
    #expect(try CorpusReader.detectFormat(path: path) == .firefly)
    let (records, _) = try readAll(path)
    #expect(records.count == 2)
    #expect(
      records[1]
        == .conversation(
          Conversation(messages: [
            Message(role: .user, content: "对联：春风得意马蹄疾"),
            Message(role: .assistant, content: "秋水无痕雁影斜"),
          ])))
  }

  @Test("moss-003 turns in order with markers stripped; moss-002 plain text split into turns")
  func moss() throws {
    let (records, _) = try readAll(fixturePath("moss-003.jsonl"))
    #expect(
      records == [
        .conversation(
          Conversation(
            system: "You are an AI assistant whose name is MOSS.",
            messages: [
              Message(role: .user, content: "你好"),
              Message(role: .assistant, content: "你好！有什么可以帮你的吗？"),
              Message(role: .user, content: "再见"), Message(role: .assistant, content: "再见！"),
            ]))
      ])
    let (plain, _) = try readAll(fixturePath("moss-002.jsonl"))
    #expect(
      plain == [
        .conversation(
          Conversation(messages: [
            Message(role: .user, content: "一加一等于几？"), Message(role: .assistant, content: "等于二。"),
            Message(role: .user, content: "谢谢"), Message(role: .assistant, content: "不客气。"),
          ]))
      ])
  }

  @Test("shareAI: conversation of human/assistant turns, system from the first turn")
  func shareAI() throws {
    let path = fixturePath("shareai.jsonl")
    #expect(try CorpusReader.detectFormat(path: path) == .shareai)
    let (records, _) = try readAll(path)
    guard records.count == 2, case .conversation(let first) = records[0],
      case .conversation(let second) = records[1]
    else {
      Issue.record("expected two conversations, got \(records)")
      return
    }
    #expect(first.messages.map(\.role) == [.user, .assistant, .user, .assistant])
    #expect(first.messages[3].content == "可以去本地美术馆看当代艺术展。")
    #expect(second.system == "你是一个编程助手。")
  }

  @Test("minimind and ShareGPT role lists, with placeholders filled")
  func roleLists() throws {
    let (minimind, _) = try readAll(fixturePath("minimind.jsonl"))
    #expect(
      minimind[1]
        == .conversation(
          Conversation(
            system: "简洁回答",
            messages: [
              Message(role: .user, content: "1+1?"), Message(role: .assistant, content: "2"),
            ])))
    let (sharegpt, _) = try readAll(
      fixturePath("sharegpt.json"), placeholders: ["name": "小明", "author": "张三"])
    #expect(
      sharegpt == [
        .conversation(
          Conversation(
            system: "你是一个助手",
            messages: [
              Message(role: .user, content: "你是谁？"),
              Message(role: .assistant, content: "我是 小明，由 张三 开发。"),
            ]))
      ])
  }

  @Test("hh_rlhf_cn: context list as the prompt, chosen.text and rejected.text")
  func hhRLHF() throws {
    let path = fixturePath("hh_rlhf_cn.jsonl")
    #expect(try CorpusReader.detectFormat(path: path) == .hhRLHF)
    let (records, _) = try readAll(path)
    #expect(records.count == 2)
    #expect(
      records[0]
        == .preference(
          PreferencePair(
            prompt: Conversation(messages: [
              Message(role: .user, content: "怎么做番茄炒蛋？"),
              Message(role: .assistant, content: "先炒蛋，再炒番茄。"),
              Message(role: .user, content: "要放糖吗？"),
            ]), chosen: "可以放一点糖提鲜。", rejected: "不知道。")))
  }

  @Test("CValues: prompt, pos_resp, neg_resp")
  func cvalues() throws {
    let path = fixturePath("cvalues.jsonl")
    #expect(try CorpusReader.detectFormat(path: path) == .cvalues)
    let (records, _) = try readAll(path)
    #expect(records.count == 3)
    #expect(
      records[2]
        == .preference(
          PreferencePair(
            prompt: Conversation(messages: [Message(role: .user, content: "你好")]), chosen: "你好！",
            rejected: "嗯")))
  }

  @Test("TSV: header skipped, prompt/chosen/rejected columns")
  func tsv() throws {
    let path = fixturePath("zhihu_rlhf.tsv")
    #expect(try CorpusReader.detectFormat(path: path) == .tsv)
    let (records, reader) = try readAll(path)
    #expect(reader.statistics.records == 2)
    #expect(
      records[1]
        == .preference(
          PreferencePair(
            prompt: Conversation(messages: [Message(role: .user, content: "推荐一本书")]),
            chosen: "《活着》，余华的小说。",
            rejected: "没有。")))
  }

  @Test("Simple DPO records, including the older answer-array layout")
  func dpo() throws {
    let (records, _) = try readAll(fixturePath("dpo.jsonl"))
    #expect(
      records == [
        .preference(
          PreferencePair(
            prompt: Conversation(messages: [Message(role: .user, content: "1+1=?")]), chosen: "2",
            rejected: "3")),
        .preference(
          PreferencePair(
            prompt: Conversation(
              system: "请认真回答", messages: [Message(role: .user, content: "天空是什么颜色？")]),
            chosen: "蓝色", rejected: "绿色")),
      ])
  }

  @Test("An explicit format overrides detection, and a wrong one rejects every record")
  func override() throws {
    let (records, reader) = try readAll(fixturePath("firefly.jsonl"), format: .jsonl)
    #expect(records.isEmpty)
    #expect(reader.statistics.rejected == [.missingField: 2])
    #expect(reader.statistics.firstRejections.map(\.line) == [1, 2])
  }
}
