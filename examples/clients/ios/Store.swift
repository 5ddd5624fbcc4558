import FirebaseAuth
import StoreKit

/// StoreKit 2: buy with the account binding, verify every transaction on the server, then finish it.
@MainActor
final class Store {
    private let verifier: PurchaseVerifier
    private var updates: Task<Void, Never>?
    var onMessage: (String) -> Void = { print($0) }

    init(verifier: PurchaseVerifier) {
        self.verifier = verifier
        // Renewals, Ask to Buy approvals, purchases from another device or made while the app was closed.
        updates = Task { [weak self] in
            for await result in Transaction.updates { await self?.handle(result) }
        }
    }

    func buy(_ product: Product) async throws {
        guard let uid = Auth.auth().currentUser?.uid else { return onMessage("Sign in first") }
        switch try await product.purchase(options: [.appAccountToken(AccountBinding.appAccountToken(uid))]) {
        case .success(let result): await handle(result)
        case .pending: onMessage("Waiting for approval") // Ask to Buy / SCA; arrives via Transaction.updates
        case .userCancelled: break
        @unknown default: break
        }
    }

    private func handle(_ result: VerificationResult<Transaction>) async {
        guard let user = Auth.auth().currentUser else { return }
        // The server verifies the JWS itself (chain, bundle id, environment); the local check is not trusted.
        let transaction = result.unsafePayloadValue
        do {
            switch try await verifier.verify(user: user, signedTransaction: result.jwsRepresentation, productId: transaction.productID) {
            case .verified, .canceled:
                await transaction.finish() // recorded by the server: StoreKit may stop redelivering it
            case .pending(let m): onMessage(m)
            case .ownedByOtherAccount: onMessage("This purchase belongs to another account")
            }
        } catch let e as VerifyPurchaseError {
            onMessage("Could not verify (\(e.code)); it will be retried") // unfinished: StoreKit redelivers
        } catch {
            onMessage("Could not verify: \(error.localizedDescription)")
        }
    }
}
