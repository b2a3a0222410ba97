import ArgumentParser
import Foundation
import MiniLlama
import MiniTokenize
import MiniTrain

struct DataDPO: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "dpo",
    abstract: "Render preference pairs into preference shards (prompt, chosen and rejected ids).",
    discussion: """
      Reads every preference format (dpo prompt/chosen/rejected, sharegpt-dpo, hh-rlhf-cn, \
      cvalues, tsv; plain or .zst) and writes JSON lines \
      {"prompt_ids": [...], "chosen_ids": [...], "rejected_ids": [...]} to \
      OUTPUT/shard-NNNNN.jsonl. The prompt is the conversation so far rendered with the chat \
      template, ending with the assistant's prefix; each reply is its tokens plus the \
      end-of-turn token. When the prompt and the longer reply exceed --max-length, the prompt's \
      oldest turns are dropped (the system prompt and the last user turn stay); pairs that \
      still do not fit are dropped and counted in index.json. OUTPUT also gets the tokenizer \
      files of a model directory (tokenizer.model, tokenizer.json, tokenizer_config.json).

      With --generate-rejected --model SFT_DIR, SFT data (alpaca, sharegpt, minimind, …) is \
      accepted too and turned into pairs as MINI_LLM does: each record's last assistant reply \
      is chosen, and the SFT model's own reply to the conversation before it, sampled with the \
      sampling flags (defaults from SFT_DIR's generation_config.json), is rejected. Reply n is \
      sampled from a seed mixed from --seed and n, so the same inputs and seed give the same \
      shards. The tokenizer and template default to SFT_DIR's.
      """
  )

  @Option(
    help:
      "A tokenizer.model or byte-level BPE tokenizer.json, a model folder holding one, or a .gguf file (default: --model's)."
  )
  var tokenizer: String?

  @OptionGroup var data: ChatDataFlags<DataDPO>

  @Flag(
    help:
      "Make pairs from SFT records: their reply is chosen, --model's sampled reply is rejected.")
  var generateRejected = false

  @Option(help: "SFT model directory whose replies are the rejected ones (--generate-rejected).")
  var model: String?

  @Option(
    help:
      "Most tokens per generated reply (default: --model's generation_config.json max_new_tokens, else 256; at most half the context)."
  )
  var maxNewTokens: Int?

  @OptionGroup var sampling: SamplingFlags

  func validate() throws {
    if generateRejected && model == nil {
      throw CommandLineError("--generate-rejected: needs --model (the SFT model that answers)")
    }
    if model != nil && !generateRejected {
      throw CommandLineError("--model: only used with --generate-rejected")
    }
    if !generateRejected && maxNewTokens != nil {
      throw CommandLineError("--max-new-tokens: only used with --generate-rejected")
    }
    if tokenizer == nil && model == nil {
      throw CommandLineError("--tokenizer: missing (or give --generate-rejected --model)")
    }
    if let maxNewTokens, maxNewTokens < 1 {
      throw CommandLineError("--max-new-tokens: must be ≥ 1, got \(maxNewTokens)")
    }
  }

  func run() async throws {
    let directory = self.model.map { ModelDirectory(path: $0) }
    let stored =
      try tokenizer.map(loadDataTokenizer)
      ?? flagged("--model") { try directory!.loadStoredTokenizer() }
    let renderer = try data.renderer(tokenizer: stored.tokenizer) {
      try flagged("--model") { try directory?.loadChatTemplate() }
    }
    let generator = try directory.map {
      try RejectedAnswerSampler(
        directory: $0, tokenizer: stored.tokenizer, renderer: renderer,
        maxNewTokens: maxNewTokens,
        sampling: sampling.options(defaults:))
    }
    var options = PreferenceOptions()
    try data.apply(to: &options)
    let index = try await data.run(sources: \.sources) { progress in
      try await PreferencePipeline.run(
        inputs: data.input, renderer: renderer,
        tokenizerFile: (stored.fileName, stored.fileBytes), output: data.output,
        options: options, rejectedGenerator: generator?.generator(), progress: progress)
    }
    let dropped = index.dropped.values.reduce(0, +)
    if generator != nil {
      printError(
        "[data dpo] \(index.generatedRejected) rejected replies sampled from \(self.model!)")
    }
    print(
      "wrote \(index.kept) pairs (\(index.truncated) with truncated prompts, \(dropped) dropped), \(index.promptTokens + index.chosenTokens + index.rejectedTokens) tokens, to \(data.output)"
    )
  }
}

extension DataDPO: ChatDataKind {
  static let label = "data dpo"
  static let unit = "pairs"
  static let inputHelp = "Preference corpus files (plain or .zst)."
  static let formatHelp =
    "Input format: auto (detect per file), dpo, sharegpt-dpo, hh-rlhf-cn, cvalues or tsv (with --generate-rejected also the SFT formats)."
  static let templateHelp =
    "chatml, human-robot, or a JSON template spec file (see Docs/Formats.md); default: --model's template, else chatml."
  static let maxLengthHelp = "The prompt plus the longer reply never exceed this many tokens."
}
