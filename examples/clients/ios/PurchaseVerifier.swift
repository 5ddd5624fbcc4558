import FirebaseAuth
import Foundation

/// What the app does next after verifyPurchase (same cases as the web sample).
enum VerifyOutcome {
    /// 200: the answer's purchase, entitlements and balances.
    case verified([String: Any])
    /// 409 purchase_pending (Ask to Buy): nothing granted; Transaction.updates delivers it once approved.
    case pending(String)
    /// 410 purchase_canceled: refunded or revoked.
    case canceled(String)
    /// 409 purchase_claimed / 403 account_mismatch.
    case ownedByOtherAccount(code: String, message: String)
}

/// Any other refusal (the server's code), or 503 once the retries are spent.
struct VerifyPurchaseError: Error {
    let status: Int
    let code: String
    let message: String
}

struct PurchaseVerifier {
    let verifyURL: URL // https://REGION-PROJECT.cloudfunctions.net/verifyPurchase
    var maxAttempts = 4
    var maxWaitSeconds = 30

    /// Sends StoreKit 2's `jwsRepresentation` as `signedTransaction` (CONTRACT section 7). Safe to repeat.
    func verify(user: User, signedTransaction: String, productId: String) async throws -> VerifyOutcome {
        let body = try JSONSerialization.data(withJSONObject: [
            "platform": "app_store", "signedTransaction": signedTransaction, "productId": productId,
        ])
        var refreshed = false
        for attempt in 1... {
            var request = URLRequest(url: verifyURL)
            request.httpMethod = "POST"
            request.setValue("application/json", forHTTPHeaderField: "Content-Type")
            request.setValue("Bearer \(try await user.getIDTokenResult(forcingRefresh: refreshed).token)", forHTTPHeaderField: "Authorization")
            request.httpBody = body
            let (data, response) = try await URLSession.shared.data(for: request)
            let http = response as! HTTPURLResponse
            let json = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] ?? [:]
            let error = json["error"] as? [String: Any]
            let code = error?["code"] as? String ?? "http_\(http.statusCode)"
            let message = error?["message"] as? String ?? ""
            switch (http.statusCode, code) {
            case (200, _): return .verified(json)
            case (_, "purchase_pending"): return .pending(message)
            case (_, "purchase_canceled"): return .canceled(message)
            case (_, "purchase_claimed"), (_, "account_mismatch"): return .ownedByOtherAccount(code: code, message: message)
            case (401, _) where !refreshed: refreshed = true // token expired in flight: once more, fresh
            case (503, _) where attempt < maxAttempts:
                let wait = Int(http.value(forHTTPHeaderField: "Retry-After") ?? "") ?? 1
                try await Task.sleep(for: .seconds(min(max(wait, 1), maxWaitSeconds)))
            default: throw VerifyPurchaseError(status: http.statusCode, code: code, message: message)
            }
        }
        fatalError("unreachable")
    }
}
