/// Mixed text for tokenizer checks: Chinese, English, code, emoji, numbers, runs of spaces and
/// newlines, contractions and special tokens inside the text, in a seeded order.
public enum MixedText {
  /// The pieces the text is made of.
  public static let fragments = [
    "床前明月光，疑是地上霜。举头望明月，低头思故乡。", "人工智能正在改变世界的每一个角落。",
    "The quick brown fox jumps over the lazy dog. ",
    "I'm sure they'll say it's what we'd've DONE'S. ",
    "func add(_ a: Int, _ b: Int) -> Int {\n    return a + b\n}\n",
    "for (i = 0; i < 100; i++) { x[i] = y[i] * 2.5e-3; }\n",
    "def f(x):\n\treturn x ** 2  # square\n",
    "🙂🚀👍🏽 emoji 👨‍👩‍👧 and ❤️ ", "12345 678 9 3.14159 2026-12-05 1,000,000 ",
    "   lots   of    spaces     ", "\n\n\n", "\r\n", "  \n  \n", "\t\ttabs\t", "<|im_start|>user\n",
    "<|im_end|>\n", "<|endoftext|>", "<tool_call>{\"name\": \"x\"}", "Ünïcödé café naïve résumé ",
    "e\u{301}tude (decomposed) ", "ＡＢＣ全角１２３ ", "Привет, мир! ", "مرحبا بالعالم ", "日本語のテキスト、カタカナ。",
    "١٢٣ ٤٥٦ Ⅻ ½ ", "x  ", "HELLO'S 'T 'Re ", "snake_case_name = CamelCaseName + kebab-case; ",
    "    indented line\n", "!!!???...,,,;;; ", "$100 €20 ¥300 ", "a\u{00A0}b\u{3000}c\u{2003}d ",
  ]

  /// At least `minimumBytes` of UTF-8, fragments chosen by a generator seeded with `seed`.
  public static func make(minimumBytes: Int, seed: UInt64) -> String {
    var state = seed &* 6_364_136_223_846_793_005 &+ 1
    var text = ""
    while text.utf8.count < minimumBytes {
      state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
      text += fragments[Int((state >> 33) % UInt64(fragments.count))]
    }
    return text
  }
}
