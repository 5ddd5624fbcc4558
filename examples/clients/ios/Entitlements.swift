import FirebaseFirestore
import Foundation

struct Entitlement {
    let id: String
    let active: Bool
    let expiresAt: Date? // nil = lifetime
    let productId: String
    let state: String
    /// Active and not past its expiry (a device offline for a while still locks on time).
    func hasAccess(now: Date = Date()) -> Bool { active && (expiresAt.map { $0 > now } ?? true) }
}

/// users/{uid}/entitlements, live: what the app unlocks from (renewals, refunds, approvals show up here).
func watchEntitlements(uid: String, onChange: @escaping ([String: Entitlement]) -> Void) -> ListenerRegistration {
    Firestore.firestore().collection("users").document(uid).collection("entitlements").addSnapshotListener { snap, _ in
        guard let snap else { return }
        var all: [String: Entitlement] = [:]
        for d in snap.documents {
            let x = d.data()
            all[d.documentID] = Entitlement(
                id: d.documentID,
                active: x["active"] as? Bool ?? false,
                expiresAt: (x["expiresAt"] as? Timestamp)?.dateValue(),
                productId: x["productId"] as? String ?? "",
                state: x["state"] as? String ?? ""
            )
        }
        onChange(all)
    }
}
