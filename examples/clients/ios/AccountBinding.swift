import CryptoKit
import Foundation

/// The account binding for the signed-in Firebase user (test vectors: ../vectors.json).
enum AccountBinding {
    /// Lowercase SHA-256 hex of the uid (UTF-8): Google Play's obfuscatedAccountId.
    static func accountHash(_ uid: String) -> String {
        SHA256.hash(data: Data(uid.utf8)).map { String(format: "%02x", $0) }.joined()
    }

    /// RFC 4122 URL namespace 6ba7b811-9dad-11d1-80b4-00c04fd430c8.
    private static let urlNamespace: [UInt8] = [0x6b, 0xa7, 0xb8, 0x11, 0x9d, 0xad, 0x11, 0xd1, 0x80, 0xb4, 0x00, 0xc0, 0x4f, 0xd4, 0x30, 0xc8]

    /// StoreKit's appAccountToken: the version-5 UUID of the uid in the URL namespace. The server
    /// refuses a transaction whose appAccountToken is another user's (403 account_mismatch).
    static func appAccountToken(_ uid: String) -> UUID {
        var b = Array(Insecure.SHA1.hash(data: Data(urlNamespace + Array(uid.utf8))).prefix(16))
        b[6] = (b[6] & 0x0f) | 0x50 // version 5
        b[8] = (b[8] & 0x3f) | 0x80 // RFC 4122 variant
        return UUID(uuid: (b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]))
    }
}
