import Foundation

/// The Chinese texts the demo learns from: poems, sayings and man pages read from the installed
/// `fortunes-zh` and `manpages-zh` packages.
public struct DemoTexts: Sendable {
  /// Tang poems (`tang300`) then Song ci (`song100`), in file order.
  public var poems: [Poem]
  /// The records of the `chinese` fortune file: proverbs, classics, quotations (tidied: tables
  /// drawn with box characters become plain rows, indentation goes).
  public var sayings: [String]
  /// The `zh_CN` man pages that have prose, sorted by path (aliases, i.e. symlinks, skipped).
  public var manPages: [ManPage]
  /// Records or files left out, per reason (e.g. `tang300: no title or author line`).
  public var skipped: [String: Int]

  /// Creates a set of texts.
  public init(
    poems: [Poem], sayings: [String], manPages: [ManPage], skipped: [String: Int] = [:]
  ) {
    self.poems = poems
    self.sayings = sayings
    self.manPages = manPages
    self.skipped = skipped
  }

  /// The poem collections read from `fortunes-zh`.
  public static let poemCollections = ["tang300", "song100"]

  /// Reads the texts from the installed packages.
  ///
  /// - Parameter database: dpkg's info folder (where the packages' file lists are).
  /// - Throws: `MissingPackageError` naming the package when one is not installed, or
  ///   `InputError` naming a file that cannot be read.
  public static func load(database: String = PackageFiles.defaultDatabase) throws -> DemoTexts {
    let fortunes = try PackageFiles.list("fortunes-zh", database: database)
    let manFiles = try PackageFiles.list("manpages-zh", database: database)
      .filter { $0.contains("/man/zh_CN/man") && $0.hasSuffix(".gz") }
    func fortuneFile(_ name: String) throws -> String {
      guard let path = fortunes.first(where: { ($0 as NSString).lastPathComponent == name }) else {
        throw MissingPackageError(package: "fortunes-zh")
      }
      return path
    }
    var files: [String: String] = [:]
    for name in poemCollections + ["chinese"] { files[name] = try fortuneFile(name) }
    return try load(fortuneFiles: files, manPageFiles: manFiles)
  }

  /// Reads the texts from given files.
  ///
  /// - Parameters:
  ///   - fortuneFiles: Paths by collection name: `tang300`, `song100` (poems), `chinese` (sayings);
  ///     any may be absent.
  ///   - manPageFiles: roff man pages (plain or gzip); symbolic links are skipped.
  public static func load(fortuneFiles: [String: String], manPageFiles: [String]) throws
    -> DemoTexts
  {
    var texts = DemoTexts(poems: [], sayings: [], manPages: [])
    for collection in poemCollections {
      guard let path = fortuneFiles[collection] else { continue }
      for record in try FortuneFile.read(path: path) {
        if let poem = Poem(record: record, collection: collection) {
          texts.poems.append(poem)
        } else {
          texts.skipped["\(collection): no title, author or verse", default: 0] += 1
        }
      }
    }
    if let path = fortuneFiles["chinese"] {
      texts.sayings = try FortuneFile.read(path: path).map(TerminalText.tidied)
        .filter { !$0.isEmpty }
    }
    for path in manPageFiles.sorted() {
      if PackageFiles.isSymbolicLink(path) {
        texts.skipped["man: alias (symbolic link)", default: 0] += 1
        continue
      }
      let (name, section) = ManPage.nameAndSection(fileName: (path as NSString).lastPathComponent)
      let page = ManPage(roff: try Gzip.readText(atPath: path), name: name, section: section)
      if page.sections.isEmpty {
        texts.skipped["man: no prose", default: 0] += 1
      } else {
        texts.manPages.append(page)
      }
    }
    return texts
  }

  /// How many of the texts' characters are CJK ideographs.
  public var cjkCharacterCount: Int {
    var count = 0
    for document in PretrainCorpus.documents(from: self) {
      for scalar in document.text.unicodeScalars where scalar.isCJKIdeograph { count += 1 }
    }
    return count
  }
}

extension Unicode.Scalar {
  /// Whether the scalar is a CJK unified ideograph (basic block or extension A).
  var isCJKIdeograph: Bool {
    (0x4E00...0x9FFF).contains(value) || (0x3400...0x4DBF).contains(value)
  }
}
