package com.example.iap

import java.security.MessageDigest

/**
 * Play's obfuscatedAccountId for the signed-in Firebase user: the lowercase SHA-256 hex of the uid
 * (UTF-8), 64 characters (Play's limit). The server recomputes it from the ID token and refuses a
 * purchase bound to another account. Test vectors: ../vectors.json.
 */
fun accountHash(uid: String): String =
    MessageDigest.getInstance("SHA-256")
        .digest(uid.toByteArray(Charsets.UTF_8))
        .joinToString("") { "%02x".format(it) }
