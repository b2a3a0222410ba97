import ArgumentParser

@main
struct MiniLLMCommand: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "minillm",
    abstract: "Train, align, run and export a small Llama-architecture chat model.",
    subcommands: [
      TokenizerCommand.self, DataCommand.self, PretrainCommand.self, SFTCommand.self,
      RewardCommand.self, ScoreCommand.self, DPOCommand.self, ForwardCommand.self,
      GenerateCommand.self, ChatCommand.self, EvalCommand.self, BenchCommand.self,
      ReportCommand.self, DemoCommand.self, ExportCommand.self, ImportCommand.self,
      ServeCommand.self, LoRACommand.self, GRPOCommand.self, PPOCommand.self,
    ]
  )

  static func main() async {
    BLASCore.reexecIfWeaker()
    BLASCore.applyKernelLimit()
    BLASCore.applyPrefillProducts()
    await main(nil)
  }
}
