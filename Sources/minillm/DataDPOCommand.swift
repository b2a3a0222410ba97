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
      still do not fit are dropped and counted in index.json. OUTPUT also gets a copy of \
      tokenizer.model and tokenizer_config.json.

      With --generate-rejected --model SFT_DIR, SFT data (alpaca, sharegpt, minimind, …) is \
      accepted too and turned into pairs as MINI_LLM does: each record's last assistant reply \
      is chosen, and the SFT model's own reply to the conversation before it, sampled with the \
      sampling flags (defaults from SFT_DIR's generation_config.json), is rejected. Reply n is \
      sampled from a seed mixed from --seed and n, so the same inputs and seed give the same \
      shards. The tokenizer and template default to SFT_DIR's.
      """
  )

  @Option(help: "A folder holding tokenizer.model, or the .model file (default: --model's).")
  var tokenizer: String?

  @Option(name: .long, parsing: .upToNextOption, help: "Preference corpus files (plain or .zst).")
  var input: [String]

  @Option(
    help:
      "Input format: auto (detect per file), dpo, sharegpt-dpo, hh-rlhf-cn, cvalues or tsv (with --generate-rejected also the SFT formats)."
  )
  var format = "auto"

  @Option(
    help:
      "chatml, human-robot, or a JSON template spec file (see Docs/Formats.md); default: --model's template, else chatml."
  )
  var template: String?

  @Option(help: "The prompt plus the longer reply never exceed this many tokens.")
  var maxLength = 512

  @Option(help: "Fills {{name}}, <NAME> and [NAME].")
  var name: String?

  @Option(help: "Fills {{author}}, <AUTHOR> and [AUTHOR].")
  var author: String?

  @Option(help: "Fills {{date}}, <DATE> and [DATE].")
  var date: String?

  @Option(help: "Output folder.")
  var output: String

  @Option(help: "Close a shard once it holds this many pairs.")
  var shardSamples = 50_000

  @Option(help: "Fail when more than this fraction of records is malformed.")
  var maxBadFraction = 0.01

  @Flag(help: "Replace the shards of an existing OUTPUT.")
  var overwrite = false

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
    try validateChatDataFlags(input: input, maxLength: maxLength, maxBadFraction: maxBadFraction)
    guard shardSamples >= 1 else { throw CommandLineError("--shard-samples: \(shardSamples) < 1") }
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
    let spm: SentencePieceTokenizer
    if let tokenizer {
      spm = try loadTokenizer(tokenizer)
    } else {
      do {
        spm = try directory!.loadTokenizer()
      } catch {
        throw CommandLineError("--model: \(error)")
      }
    }
    let renderer: ChatRenderer
    if let template {
      renderer = try loadRenderer(template: template, tokenizer: spm)
    } else if let directory {
      do {
        renderer = try ChatRenderer(template: try directory.loadChatTemplate(), tokenizer: spm)
      } catch {
        throw CommandLineError("--model: \(error)")
      }
    } else {
      renderer = try loadRenderer(template: "chatml", tokenizer: spm)
    }
    let generator = try directory.map {
      try rejectedSampler($0, tokenizer: spm, renderer: renderer)
    }
    var options = PreferenceOptions()
    options.format = try parseFormat(format)
    options.maxLength = maxLength
    options.placeholders = placeholders(name: name, author: author, date: date)
    options.samplesPerShard = shardSamples
    options.maximumBadFraction = maxBadFraction
    options.overwrite = overwrite
    let display = ChatDataProgressDisplay(label: "data dpo")
    let index: PreferenceShardIndex
    do {
      index = try await PreferencePipeline.run(
        inputs: input, renderer: renderer,
        tokenizerFile: ("tokenizer.model", spm.modelBytes), output: output, options: options,
        rejectedGenerator: generator?.generator(), progress: display.update)
    } catch {
      display.finish()
      logFailure(error)
      throw error
    }
    display.finish()
    logSources(index.sources, unit: "pairs")
    let dropped = index.dropped.values.reduce(0, +)
    if generator != nil {
      printError(
        "[data dpo] \(index.generatedRejected) rejected replies sampled from \(self.model!)")
    }
    print(
      "wrote \(index.kept) pairs (\(index.truncated) with truncated prompts, \(dropped) dropped), \(index.promptTokens + index.chosenTokens + index.rejectedTokens) tokens, to \(output)"
    )
  }

  /// The sampler of `--generate-rejected`: `--model`'s weights, its stop tokens and sampling
  /// defaults with the sampling flags applied.
  func rejectedSampler(
    _ directory: ModelDirectory, tokenizer: SentencePieceTokenizer, renderer: ChatRenderer
  ) throws -> RejectedAnswerSampler {
    let llama = try loadModel(directory.path)
    guard tokenizer.vocabularySize <= llama.config.vocabSize else {
      throw CommandLineError(
        "--model: \(directory.file("config.json")) has vocab_size \(llama.config.vocabSize), fewer "
          + "than the \(tokenizer.vocabularySize) pieces of the tokenizer")
    }
    if let own = try? directory.loadTokenizer(), own.sha256 != tokenizer.sha256 {
      throw CommandLineError(
        "--tokenizer: not --model's tokenizer (\(directory.file("tokenizer.model"))); the prompts "
          + "must be encoded as the model was trained")
    }
    let generation: GenerationConfig
    do {
      generation = try directory.loadGenerationConfig()
    } catch {
      throw CommandLineError("--model: \(error)")
    }
    let context = llama.config.maxPositions
    let budget = maxNewTokens ?? min(generation.maxNewTokens ?? 256, max(1, context / 2))
    let stops = Set((generation.eosTokenIDs + renderer.stopTokenIDs).map(Int32.init))
    return RejectedAnswerSampler(
      model: llama, tokenizer: tokenizer,
      sampling: sampling.options(defaults: generation.sampling), maxNewTokens: budget,
      stopTokens: stops)
  }
}
