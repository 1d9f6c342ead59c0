import Foundation

/// Little-endian reads with bounds checks that yield zero instead of trapping (callers validate ranges first).
struct ByteReader {
    let data: Data
    init(_ data: Data) { self.data = data }

    func u8(_ at: Int) -> UInt8 { at >= 0 && at < data.count ? data[data.startIndex + at] : 0 }
    func bytes(_ at: Int, _ count: Int) -> [UInt8] { (0..<count).map { u8(at + $0) } }
    func u16(_ at: Int) -> UInt16 { UInt16(u8(at)) | UInt16(u8(at + 1)) << 8 }
    func u32(_ at: Int) -> UInt32 { UInt32(u16(at)) | UInt32(u16(at + 2)) << 16 }
    func u64(_ at: Int) -> UInt64 { UInt64(u32(at)) | UInt64(u32(at + 4)) << 32 }
    func cString(_ at: Int, limit: Int) -> String {
        guard at >= 0, at < data.count, limit > 0 else { return "" }
        var end = at
        let stop = limit >= data.count - at ? data.count : at + limit
        while end < stop, u8(end) != 0 { end += 1 }
        return String(decoding: data[(data.startIndex + at)..<(data.startIndex + end)], as: UTF8.self)
    }
}
