// swift-tools-version: 5.4
// libFuzzer targets for every reader of outside data, one executable per reader. Built apart
// from the main package (`make fuzz`) with `-sanitize=fuzzer,address`; see Docs/Fuzzing.md.
// Tools version 5.4: later ones rename an executable's `main` (so tests can import it), which
// leaves no symbol for the link when libFuzzer supplies `main`.
import PackageDescription

/// Each target: its name and the MiniLLM libraries it reads with.
let fuzzers: [(name: String, libraries: [String])] = [
  ("FuzzSafeTensors", ["MiniTensor"]),
  ("FuzzGGUF", ["MiniLlama"]),
  ("FuzzLlamaConfig", ["MiniLlama"]),
  ("FuzzTokenizerModel", ["MiniTokenize"]),
  ("FuzzTokenizerJSON", ["MiniTokenize"]),
  ("FuzzChatTemplate", ["MiniTokenize"]),
  ("FuzzCorpusReader", ["MiniTokenize"]),
  ("FuzzParquet", ["MiniTokenize"]),
  ("FuzzSFTShard", ["MiniTokenize"]),
  ("FuzzPreferenceShard", ["MiniTokenize"]),
  ("FuzzCheckpointManifest", ["MiniTrain", "MiniTokenize"]),
  ("FuzzTrainerState", ["MiniTrain", "MiniTensor"]),
]

let package = Package(
  name: "MiniLLMFuzz",
  products: fuzzers.map { .executable(name: $0.name, targets: [$0.name]) },
  dependencies: [.package(name: "MiniLLM", path: "..")],
  targets: [
    .target(name: "FuzzSupport", path: "Sources/FuzzSupport")
  ]
    + fuzzers.map { fuzzer in
      .executableTarget(
        name: fuzzer.name,
        dependencies: ["FuzzSupport"]
          + fuzzer.libraries.map { .product(name: $0, package: "MiniLLM") },
        path: "Sources/\(fuzzer.name)")
    }
)
