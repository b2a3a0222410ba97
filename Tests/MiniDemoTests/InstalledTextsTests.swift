import Foundation
import MiniDemo
import TestSupport
import Testing

/// The texts of the installed `fortunes-zh` and `manpages-zh`, read once per test process, or why
/// they cannot be read.
let installedTextsOutcome: Result<DemoTexts, DemoTextsUnavailable> = {
  do {
    return .success(try DemoTexts.load())
  } catch {
    return .failure(DemoTextsUnavailable(description: "\(error)"))
  }
}()

/// Why the installed texts cannot be read.
struct DemoTextsUnavailable: Error, CustomStringConvertible {
  let description: String
}

/// The installed texts; throws (failing the test) when a package is missing. Pair with
/// `.requires(.installedTexts)`.
func requireInstalledTexts() throws -> DemoTexts {
  try installedTextsOutcome.get()
}

extension Requirement {
  /// The Debian packages `fortunes-zh` and `manpages-zh` (scripts/bootstrap installs them).
  static let installedTexts = Requirement("fortunes-zh and manpages-zh (scripts/bootstrap)") {
    if case .failure(let reason) = installedTextsOutcome { return reason.description }
    return nil
  }
}

@Suite(.requires(.installedTexts)) struct InstalledTextsTests {
  @Test func poemsHaveTitleAuthorAndVerseWithoutColourCodes() throws {
    let texts = try requireInstalledTexts()
    let tang = texts.poems.filter { $0.collection == "tang300" }
    let song = texts.poems.filter { $0.collection == "song100" }
    // The files hold 313 and 95 records; every one is a poem with a title and an author.
    #expect(tang.count == 313)
    #expect(song.count == 95)
    #expect(texts.skipped.keys.allSatisfy { !$0.hasPrefix("tang300") && !$0.hasPrefix("song100") })
    for poem in texts.poems {
      #expect(!poem.title.isEmpty && !poem.author.isEmpty && !poem.verses.isEmpty)
      #expect(!poem.document.contains("\u{1B}"), "\(poem.title)")
      #expect(!poem.author.contains("（") && !poem.author.contains(":"), "\(poem.author)")
    }
    let night = try #require(tang.first { $0.title == "夜思" })
    #expect(night.author == "李白")
    #expect(night.verses == ["床前明月光，疑是地上霜。", "举头望明月，低头思故乡。"])
    #expect(song.first?.title == "塞上")
    #expect(song.first?.author == "柳开")
  }

  @Test func sayingsAreThePercentSeparatedRecords() throws {
    let texts = try requireInstalledTexts()
    // ≈ 5,000 records in `chinese`, none empty or coloured.
    #expect((5000...5400).contains(texts.sayings.count))
    #expect(
      texts.sayings.allSatisfy { !$0.isEmpty && !$0.contains("\u{1B}") && !$0.contains("\n%\n") })
    #expect(texts.sayings.first?.hasPrefix("要有礼貌") == true)
    let boxDrawing = texts.sayings.filter {
      $0.unicodeScalars.contains { (0x2500...0x257F).contains($0.value) }
    }
    #expect(boxDrawing.isEmpty, "\(boxDrawing.count) sayings keep table borders")
  }

  @Test func manPagesAreProseWithoutRoff() throws {
    let texts = try requireInstalledTexts()
    // 746 zh_CN pages of which 43 are aliases (symbolic links).
    #expect((650...710).contains(texts.manPages.count))
    #expect(texts.skipped["man: alias (symbolic link)"] == 43)
    // Pages about roff itself (man.7, mdoc.samples.7, …) and about escapes (printf, regex) show
    // roff syntax as their text; anywhere else a font escape or a macro line is a remnant.
    let roffLine =
      /^[.'](SH|SS|TP|PP|LP|IP|BR|IR|RB|RI|BI|IB|br|sp|nf|fi|RS|RE|de|TH|Sh|Pp|Nm|Nd)(\s|$)/
    var pagesWithRemnants: [String] = []
    for page in texts.manPages {
      let document = page.document
      let fontEscape = ["\\fB", "\\fI", "\\fR", "\\fP", "\\f(", "\\s-1", "\\*(", "\u{1B}"]
        .contains { document.contains($0) }
      let macroLine = document.split(separator: "\n").contains {
        $0.firstMatch(of: roffLine) != nil
      }
      if document.isEmpty || fontEscape || macroLine {
        pagesWithRemnants.append("\(page.name).\(page.section)")
      }
    }
    #expect(pagesWithRemnants.count <= 6, "roff remnants in \(pagesWithRemnants)")
    let ls = try #require(texts.manPages.first { $0.name == "ls" && $0.section == "1" })
    let summary = try #require(ls.summary)
    #expect(summary.names == ["ls"])
    #expect(summary.description == "列出目录内容")
    // Most pages have a NAME line with a description.
    let described = texts.manPages.filter { $0.summary != nil }.count
    #expect(described * 10 >= texts.manPages.count * 9)
    #expect(texts.cjkCharacterCount > 900_000)
  }
}
