import MiniTokenize
import Testing

@Suite("Chat template layouts")
struct ChatTemplateLayoutTests {
  @Test func aProbedChatMLTemplateRendersAsTheBuiltIn() throws {
    // Probing folds the user's suffix into the assistant's prefix and names the template
    // "jinja": another layout of fields, the same text.
    let probed = try ChatTemplate.probing(
      jinja: ChatTemplate.chatml.jinja, bosToken: "<s>", eosToken: "<|im_end|>",
      specialTokens: ["<|im_start|>", "<|im_end|>"]
    ).template
    #expect(probed != ChatTemplate.chatml)
    #expect(ChatTemplate.chatml.layoutDifference(from: probed) == nil)
    #expect(probed.layoutDifference(from: .chatml) == nil)
  }

  @Test func templatesThatRenderOtherTextDiffer() {
    #expect(ChatTemplate.chatml.layoutDifference(from: .humanRobot) != nil)
    var otherEOS = ChatTemplate.chatml
    otherEOS.eos = "</s>"
    #expect(ChatTemplate.chatml.layoutDifference(from: otherEOS)?.contains("end-of-turn") == true)
    var withBOS = ChatTemplate.chatml
    withBOS.addsBOS = true
    #expect(ChatTemplate.chatml.layoutDifference(from: withBOS)?.contains("BOS") == true)
    var otherSystem = ChatTemplate.chatml
    otherSystem.system = .init(prefix: "<|im_start|>system\n", suffix: "\n")
    #expect(
      ChatTemplate.chatml.layoutDifference(from: otherSystem)?.contains("system prompt") == true)
    var renamed = ChatTemplate.chatml
    renamed.name = "mine"
    #expect(ChatTemplate.chatml.layoutDifference(from: renamed) == nil)
  }
}
