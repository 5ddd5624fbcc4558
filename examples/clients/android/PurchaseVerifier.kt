package com.example.iap

import com.google.firebase.auth.FirebaseUser
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.delay
import kotlinx.coroutines.tasks.await
import kotlinx.coroutines.withContext
import org.json.JSONObject
import java.io.IOException
import java.net.HttpURLConnection
import java.net.URL

/** What the app does next after verifyPurchase (same cases as the web sample). */
sealed interface VerifyOutcome {
    /** 200: the answer's purchase, entitlements and balances. */
    data class Verified(val result: JSONObject) : VerifyOutcome
    /** 409 purchase_pending: show "pending"; verify again when Play reports the purchase PURCHASED. */
    data class Pending(val message: String) : VerifyOutcome
    /** 410 purchase_canceled: canceled or refunded, nothing to grant. */
    data class Canceled(val message: String) : VerifyOutcome
    /** 409 purchase_claimed / 403 account_mismatch. */
    data class OwnedByOtherAccount(val code: String, val message: String) : VerifyOutcome
}

/** Any other refusal (the server's code, e.g. unknown_product), or 503 once the retries are spent. */
class VerifyPurchaseException(val status: Int, val code: String, message: String) : IOException(message)

class PurchaseVerifier(
    private val verifyUrl: String, // https://REGION-PROJECT.cloudfunctions.net/verifyPurchase
    private val maxAttempts: Int = 4,
    private val maxWaitSeconds: Long = 30,
) {
    /** Sends Purchase.getPurchaseToken() (never getOrderId()). Safe to repeat: the server is idempotent. */
    suspend fun verify(user: FirebaseUser, packageName: String, productId: String, purchaseToken: String): VerifyOutcome {
        val body = JSONObject()
            .put("packageName", packageName)
            .put("productId", productId)
            .put("purchaseToken", purchaseToken)
            .toString()
        var refreshed = false
        var attempt = 1
        while (true) {
            val idToken = user.getIdToken(refreshed).await().token ?: throw VerifyPurchaseException(401, "unauthenticated", "no ID token")
            val (status, retryAfter, json) = post(body, idToken)
            val error = json.optJSONObject("error")
            val code = error?.optString("code") ?: "http_$status"
            val message = error?.optString("message") ?: ""
            when {
                status == 200 -> return VerifyOutcome.Verified(json)
                code == "purchase_pending" -> return VerifyOutcome.Pending(message)
                code == "purchase_canceled" -> return VerifyOutcome.Canceled(message)
                code == "purchase_claimed" || code == "account_mismatch" -> return VerifyOutcome.OwnedByOtherAccount(code, message)
                status == 401 && !refreshed -> refreshed = true // token expired in flight: once more, fresh
                status == 503 && attempt < maxAttempts -> delay((retryAfter ?: 1).coerceIn(1, maxWaitSeconds) * 1000)
                else -> throw VerifyPurchaseException(status, code, message)
            }
            attempt++
        }
    }

    private suspend fun post(body: String, idToken: String): Triple<Int, Long?, JSONObject> = withContext(Dispatchers.IO) {
        val c = URL(verifyUrl).openConnection() as HttpURLConnection
        try {
            c.requestMethod = "POST"
            c.doOutput = true
            c.setRequestProperty("Content-Type", "application/json")
            c.setRequestProperty("Authorization", "Bearer $idToken")
            c.outputStream.use { it.write(body.toByteArray()) }
            val status = c.responseCode
            val text = (if (status < 400) c.inputStream else c.errorStream)?.bufferedReader()?.use { it.readText() }.orEmpty()
            val json = runCatching { JSONObject(text) }.getOrDefault(JSONObject())
            Triple(status, c.getHeaderField("Retry-After")?.trim()?.toLongOrNull(), json)
        } finally {
            c.disconnect()
        }
    }
}
