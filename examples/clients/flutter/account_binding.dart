import 'dart:convert';

import 'package:crypto/crypto.dart';

/// The account binding for the signed-in Firebase user (test vectors: ../vectors.json).

/// Lowercase SHA-256 hex of the uid (UTF-8): Play's obfuscatedAccountId (`applicationUserName` on Android).
String accountHash(String uid) => sha256.convert(utf8.encode(uid)).toString();

/// RFC 4122 URL namespace 6ba7b811-9dad-11d1-80b4-00c04fd430c8.
const _urlNamespace = [0x6b, 0xa7, 0xb8, 0x11, 0x9d, 0xad, 0x11, 0xd1, 0x80, 0xb4, 0x00, 0xc0, 0x4f, 0xd4, 0x30, 0xc8];

/// StoreKit's appAccountToken: the version-5 UUID of the uid in the URL namespace, lowercase.
String appAccountToken(String uid) {
  final b = sha1.convert([..._urlNamespace, ...utf8.encode(uid)]).bytes.sublist(0, 16);
  b[6] = (b[6] & 0x0f) | 0x50; // version 5
  b[8] = (b[8] & 0x3f) | 0x80; // RFC 4122 variant
  final h = b.map((x) => x.toRadixString(16).padLeft(2, '0')).join();
  return '${h.substring(0, 8)}-${h.substring(8, 12)}-${h.substring(12, 16)}-${h.substring(16, 20)}-${h.substring(20)}';
}
