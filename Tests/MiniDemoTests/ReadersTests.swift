import Foundation
import MiniDemo
import MiniTokenize
import Testing

@Suite struct GzipTests {
  /// Compresses with the `gzip` tool (an independent writer; Debian installs it always).
  func gzipped(_ bytes: [UInt8]) throws -> [UInt8] {
    let folder = FileManager.default.temporaryDirectory.appendingPathComponent(
      "minidemo-gzip-\(ProcessInfo.processInfo.processIdentifier)-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: folder) }
    let file = folder.appendingPathComponent("data")
    try Data(bytes).write(to: file)
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = ["gzip", "-9", file.path]
    try process.run()
    process.waitUntilExit()
    try #require(process.terminationStatus == 0, "gzip exited with \(process.terminationStatus)")
    return [UInt8](try Data(contentsOf: folder.appendingPathComponent("data.gz")))
  }

  @Test(arguments: [0, 1, 100, 200_000])
  func roundTripsThroughTheGzipTool(count: Int) throws {
    var state: UInt32 = 7
    let original = (0..<count).map { _ -> UInt8 in
      state = state &* 1_664_525 &+ 1_013_904_223
      return UInt8(truncatingIfNeeded: state >> 28) + 0x41  // compressible letters
    }
    let compressed = try gzipped(original)
    #expect(Gzip.isCompressed(compressed))
    #expect(try Gzip.decompress(compressed, path: "x.gz") == original)
  }

  @Test func readsConcatenatedMembers() throws {
    let first = try gzipped(Array("床前明月光，".utf8))
    let second = try gzipped(Array("疑是地上霜。".utf8))
    let text = try Gzip.decompress(first + second, path: "two.gz")
    #expect(String(decoding: text, as: UTF8.self) == "床前明月光，疑是地上霜。")
  }

  @Test func truncatedAndCorruptStreamsThrowNamingTheFile() throws {
    let compressed = try gzipped(Array(repeating: 0x61, count: 10_000) + Array("end".utf8))
    #expect(throws: InputError.self) {
      try Gzip.decompress(Array(compressed.prefix(compressed.count / 2)), path: "half.gz")
    }
    var corrupt = compressed
    corrupt[corrupt.count - 6] ^= 0xFF  // the CRC-32 of the trailer
    let error = #expect(throws: InputError.self) { try Gzip.decompress(corrupt, path: "bad.gz") }
    #expect(error?.path == "bad.gz")
  }
}

@Suite struct FortuneFileTests {
  @Test func splitsAtPercentLinesAndStripsColours() {
    let text = "\u{1B}[32m《夜思》\u{1B}[m\n\u{1B}[33m作者：李白\u{1B}[m\n床前明月光，疑是地上霜。\n%\n\n%\n第二条\n%\n"
    let records = FortuneFile.records(in: text)
    #expect(records == ["《夜思》\n作者：李白\n床前明月光，疑是地上霜。", "第二条"])
  }

  @Test func stripsControlSequencesOfEveryShape() {
    #expect(TerminalText.stripped("a\u{1B}[1;31mb\u{1B}[0mc\u{1B}[2Kd\u{1B}(Be") == "abcde")
    #expect(TerminalText.stripped("无颜色") == "无颜色")
  }

  @Test func tablesBecomePlainRows() {
    let table = """
      表 1.9. 时间戳类型列表

          ┌─────┬──────┐
          │类型 │ 含义 │
          ├─────┼──────┤
          │mtime│修改时间\u{A0}\u{A0}│
          └─────┴──────┘


      下一段
      """
    #expect(TerminalText.tidied(table) == "表 1.9. 时间戳类型列表\n\n类型 含义\nmtime 修改时间\n\n下一段")
  }

  @Test func parsesTangAndSongHeaders() throws {
    let tang = try #require(
      Poem(record: "《登鹳雀楼》\n作者：王之涣\n白日依山尽，黄河入海流。\n欲穷千里目，更上一层楼。", collection: "tang300"))
    #expect(tang.title == "登鹳雀楼" && tang.author == "王之涣")
    #expect(tang.verses.count == 2)
    let song = try #require(
      Poem(
        record: "题目:《春居杂兴》二首\n作者:王禹偁（９５４－１００１）\n\n            其一\n\n两株桃杏映篱斜，妆点商山副使家，",
        collection: "song100"))
    #expect(song.title == "春居杂兴" && song.author == "王禹偁")
    #expect(song.lines == ["其一", "两株桃杏映篱斜，妆点商山副使家，"])
    #expect(song.verses == ["两株桃杏映篱斜，妆点商山副使家，"])
    #expect(Poem(record: "要有礼貌\n\n在 Debian 这种规模的项目中", collection: "tang300") == nil)
  }
}

@Suite struct ManPageRoffTests {
  @Test func manMacrosBecomeProse() throws {
    let roff = #"""
      .\" comment
      .de XX
      .B never shown
      ..
      .TH LS 1 "2022" "GNU coreutils" 用户命令
      .SH 名称
      ls \- 列出目录内容
      .SH "描述 DESCRIPTION"
      .PP
      列出指定“文件”的信息。如果既没有指定 \fB\-cftuvSUX\fP 中任何一个，
      也没有指定 \fB\-\-sort\fP，则按字母排序。
      .TP
      \fB\-a\fP, \fB\-\-all\fP
      不要忽略以点号起始的条目
      .BR ls (1)
      is \s-1SMALL\s0 and \(lqquoted\(rq \*(lqtoo\*(rq
      .if n \{\
      .B hidden
      .\}
      .nf
      line one
        line two
      .fi
      """#
    let page = ManPage(roff: roff, name: "ls", section: "1")
    #expect(page.sections.map(\.heading) == ["名称", "描述 DESCRIPTION"])
    #expect(page.nameLine == "ls - 列出目录内容")
    #expect(page.summary?.names == ["ls"])
    #expect(page.summary?.description == "列出目录内容")
    #expect(
      page.sections[1].paragraphs == [
        "列出指定“文件”的信息。如果既没有指定 -cftuvSUX 中任何一个，也没有指定 --sort，则按字母排序。",
        "-a, --all",
        "不要忽略以点号起始的条目ls(1) is SMALL and “quoted” “too”",
        "line one", "line two",
      ])
    #expect(!page.document.contains("never shown") && !page.document.contains("hidden"))
  }

  @Test func mdocMacrosBecomeProse() {
    let roff = """
      .Dd May 1, 2000
      .Dt CAT 1
      .Sh NAME
      .Nm cat
      .Nd 连接文件并打印
      .Sh SYNOPSIS
      .Nm
      .Op Fl benstuv
      .Ar file ...
      .Sh SEE ALSO
      .Xr head 1 ,
      .Xr tail 1
      """
    let page = ManPage(roff: roff, name: "cat", section: "1")
    #expect(page.summary?.names == ["cat"])
    #expect(page.summary?.description == "连接文件并打印")
    #expect(page.sections[1].paragraphs == ["cat [-benstuv] file ..."])
    #expect(page.sections[2].paragraphs == ["head(1), tail(1)"])
  }

  @Test func fileNamesGiveNameAndSection() {
    #expect(ManPage.nameAndSection(fileName: "ls.1.gz") == ("ls", "1"))
    #expect(ManPage.nameAndSection(fileName: "smb.conf.5.gz") == ("smb.conf", "5"))
    #expect(ManPage.nameAndSection(fileName: "puts.3tcl") == ("puts", "3tcl"))
  }

  @Test func missingPackagesNameThePackageAndTheInstallCommand() throws {
    let empty =
      FileManager.default.temporaryDirectory.path + "/minidemo-no-dpkg-\(UUID().uuidString)"
    let error = #expect(throws: MissingPackageError.self) {
      try PackageFiles.list("fortunes-zh", database: empty)
    }
    #expect(error?.description.contains("apt-get install fortunes-zh") == true)
  }
}
