// swift-tools-version: 6.1
import PackageDescription

let package = Package(
  name: "MiniLLM",
  products: [
    .library(name: "MiniTensor", targets: ["MiniTensor"]),
    .library(name: "MiniAutograd", targets: ["MiniAutograd"]),
    .library(name: "MiniLlama", targets: ["MiniLlama"]),
    .library(name: "MiniTokenize", targets: ["MiniTokenize"]),
    .library(name: "MiniTrain", targets: ["MiniTrain"]),
    .library(name: "MiniDistributed", targets: ["MiniDistributed"]),
    .library(name: "MiniServe", targets: ["MiniServe"]),
    .library(name: "MiniEval", targets: ["MiniEval"]),
    .executable(name: "minillm", targets: ["minillm"]),
  ],
  dependencies: [
    .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
    .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
    // lm-evaluation-harness task files are YAML; only MiniEval reads them.
    .package(url: "https://github.com/jpsim/Yams", from: "6.0.0"),
    // The HTTP server under `minillm serve` (swift-nio underneath); only MiniServe depends on it.
    // Its default traits (swift-configuration, full Foundation) are not needed.
    .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1", traits: []),
    // The server's event loop (Hummingbird's own dependency, pinned with it).
    .package(url: "https://github.com/apple/swift-nio.git", from: "2.81.0"),
  ],
  targets: [
    // System libraries.
    .systemLibrary(
      name: "COpenBLAS",
      pkgConfig: "openblas",
      providers: [.apt(["libopenblas-dev", "liblapacke-dev"])]
    ),
    .systemLibrary(name: "CZstd", pkgConfig: "libzstd", providers: [.apt(["libzstd-dev"])]),
    .systemLibrary(name: "CZlib", pkgConfig: "zlib", providers: [.apt(["zlib1g-dev"])]),
    .systemLibrary(name: "CSnappy", pkgConfig: "snappy", providers: [.apt(["libsnappy-dev"])]),
    .systemLibrary(
      name: "CSentencePiece",
      pkgConfig: "sentencepiece",
      providers: [.apt(["libsentencepiece-dev"])]
    ),
    .systemLibrary(name: "COpenSSL", pkgConfig: "libcrypto", providers: [.apt(["libssl-dev"])]),
    .systemLibrary(
      name: "CMPI",
      pkgConfig: "ompi-c",
      providers: [.apt(["libopenmpi-dev", "openmpi-bin"])]
    ),
    .target(
      name: "CSentencePieceShim",
      dependencies: ["CSentencePiece"],
      cxxSettings: [.headerSearchPath("include")]
    ),

    // Libraries, bottom to top.
    // What every layer shares (no product): the JSON parser, SHA-256, mapped files, atomic writes.
    .target(name: "MiniSupport", dependencies: ["COpenSSL"]),
    // The kernels that must run at the CPU's full width in a build without CPU flags (element-wise
    // layers, AdamW, matrix-vector and int8 dot products), compiled per instruction set with
    // target attributes and chosen at run time.
    .target(name: "CKernels"),
    .target(name: "MiniTensor", dependencies: ["MiniSupport", "COpenBLAS", "CKernels"]),
    .target(name: "MiniAutograd", dependencies: ["MiniTensor"]),
    .target(
      name: "MiniTokenize",
      dependencies: ["MiniSupport", "CSentencePieceShim", "CZstd", "CZlib", "CSnappy"]
    ),
    .target(
      name: "MiniLlama",
      dependencies: ["MiniSupport", "MiniTensor", "MiniAutograd", "MiniTokenize"]
    ),
    .target(
      name: "MiniTrain",
      dependencies: ["MiniSupport", "MiniTensor", "MiniAutograd", "MiniLlama", "MiniTokenize"]
    ),
    .target(name: "MiniDistributed", dependencies: ["MiniTrain", "MiniTensor", "CMPI"]),
    // Benchmarks scored as lm-evaluation-harness scores them: task YAML, few-shot contexts,
    // log-likelihood multiple choice, rolling perplexity, greedy generation with filters.
    .target(
      name: "MiniEval",
      dependencies: [
        "MiniSupport", "MiniTensor", "MiniLlama", "MiniTokenize",
        .product(name: "Yams", package: "Yams"),
      ]
    ),
    // The OpenAI-compatible server: routes, the continuous-batching engine, the chat page.
    .target(
      name: "MiniServe",
      dependencies: [
        "MiniSupport", "MiniTensor", "MiniLlama", "MiniTokenize",
        .product(name: "Hummingbird", package: "hummingbird"),
        .product(name: "Logging", package: "swift-log"),
        .product(name: "NIOCore", package: "swift-nio"),
        .product(name: "NIOPosix", package: "swift-nio"),
      ]
    ),
    // The demo's data builder: internal to the CLI (no product).
    .target(
      name: "MiniDemo",
      dependencies: ["MiniSupport", "MiniTensor", "MiniTokenize", "MiniTrain", "CZlib"]),

    // Executables.
    .executableTarget(
      name: "minillm",
      dependencies: [
        "MiniTensor", "MiniAutograd", "MiniLlama", "MiniTokenize", "MiniTrain", "MiniDistributed",
        "MiniDemo", "MiniServe", "MiniEval",
        .product(name: "ArgumentParser", package: "swift-argument-parser"),
        .product(name: "Logging", package: "swift-log"),
      ]
    ),
    .executableTarget(
      name: "CustomTrainingLoop",
      dependencies: [
        "MiniTensor", "MiniAutograd", "MiniLlama", "MiniTokenize", "MiniTrain",
        .product(name: "ArgumentParser", package: "swift-argument-parser"),
      ],
      path: "Examples/CustomTrainingLoop"
    ),

    // Tests.
    .target(name: "TestSupport", dependencies: ["MiniTensor"], path: "Tests/TestSupport"),
    .testTarget(name: "MiniSupportTests", dependencies: ["MiniSupport"]),
    // Applies MINILLM_TEST_THREADS when the test process starts (scripts/test-cores).
    .target(
      name: "TestThreadSetting", dependencies: ["TestSupport"], path: "Tests/TestThreadSetting"),
    .testTarget(
      name: "MiniTensorTests",
      dependencies: ["MiniTensor", "CKernels", "TestSupport", "TestThreadSetting"]),
    .testTarget(
      name: "MiniAutogradTests", dependencies: ["MiniAutograd", "MiniTensor", "TestSupport"]),
    // Helpers shared by the training tests and the CLI's tests.
    .target(
      name: "PipelineTestSupport",
      dependencies: [
        "MiniTrain", "MiniLlama", "MiniAutograd", "MiniTokenize", "MiniTensor", "TestSupport",
      ],
      path: "Tests/PipelineTestSupport"),
    .testTarget(
      name: "MiniLlamaTests",
      dependencies: [
        "MiniLlama", "MiniAutograd", "MiniTrain", "MiniTensor", "MiniTokenize", "TestSupport",
        "PipelineTestSupport",
      ]),
    .testTarget(
      name: "MiniTokenizeTests", dependencies: ["MiniTokenize", "TestSupport"],
      exclude: ["Fixtures"]),
    .testTarget(
      name: "MiniTrainTests",
      dependencies: [
        "MiniTrain", "MiniLlama", "MiniAutograd", "MiniTokenize", "MiniTensor", "TestSupport",
        "PipelineTestSupport",
      ],
      exclude: ["Fixtures"]),
    // The `minillm` executable and the examples, run as a user runs them.
    .testTarget(
      name: "minillmTests",
      dependencies: [
        "MiniEval", "MiniTrain", "MiniLlama", "MiniTokenize", "MiniTensor", "TestSupport",
        "PipelineTestSupport",
      ]),
    .testTarget(
      name: "MiniDistributedTests",
      dependencies: [
        "MiniDistributed", "MiniTrain", "MiniTokenize", "MiniTensor", "MiniLlama", "TestSupport",
        "PipelineTestSupport",
      ]),
    .testTarget(
      name: "MiniServeTests",
      dependencies: [
        "MiniServe", "MiniLlama", "MiniTokenize", "MiniTensor", "TestSupport",
        "PipelineTestSupport",
      ]),
    .testTarget(
      name: "MiniEvalTests",
      dependencies: [
        "MiniEval", "MiniLlama", "MiniTokenize", "MiniTensor", "TestSupport", "PipelineTestSupport",
      ]),
    .testTarget(
      name: "MiniDemoTests", dependencies: ["MiniDemo", "MiniLlama", "MiniTokenize", "TestSupport"]),
  ],
  swiftLanguageModes: [.v6],
  cxxLanguageStandard: .cxx17
)
