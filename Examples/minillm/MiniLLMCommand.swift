import ArgumentParser

@main
struct MiniLLMCommand: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "minillm",
    abstract: "Train, align, run and export a small Llama-architecture chat model.",
    subcommands: [
      TokenizerCommand.self, DataCommand.self, ForwardCommand.self, GenerateCommand.self,
      ChatCommand.self,
      BenchCommand.self, DemoCommand.self,
      ExportCommand.self,
    ]
  )

  static func main() async {
    BLASCore.reexecIfGeneric()
    await main(nil)
  }
}
