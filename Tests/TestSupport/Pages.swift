#if canImport(Glibc)
  import Glibc
#endif

/// Pages of the `bytes` at `base` that the process has in memory (`mincore`), or -1 when the
/// call fails.
public func residentPages(_ base: UnsafeRawPointer, bytes: Int) -> Int {
  let page = Int(sysconf(Int32(_SC_PAGESIZE)))
  let address = Int(bitPattern: base)
  let start = UnsafeMutableRawPointer(bitPattern: address & ~(page - 1))!
  let length = bytes + address - Int(bitPattern: start)
  var pages = [UInt8](repeating: 0, count: (length + page - 1) / page)
  guard mincore(start, length, &pages) == 0 else { return -1 }
  return pages.reduce(0) { $0 + Int($1 & 1) }
}
