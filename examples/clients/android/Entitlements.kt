package com.example.iap

import com.google.firebase.Timestamp
import com.google.firebase.firestore.FirebaseFirestore
import com.google.firebase.firestore.ListenerRegistration
import java.util.Date

data class Entitlement(val id: String, val active: Boolean, val expiresAt: Date?, val productId: String, val state: String) {
    /** Active and not past its expiry (a device offline for a while still locks on time). */
    fun hasAccess(now: Date = Date()): Boolean = active && (expiresAt == null || expiresAt.after(now))
}

/** users/{uid}/entitlements, live: what the app unlocks from (renewals, refunds and pending payments show up here). */
fun watchEntitlements(uid: String, onChange: (Map<String, Entitlement>) -> Unit): ListenerRegistration =
    FirebaseFirestore.getInstance()
        .collection("users").document(uid).collection("entitlements")
        .addSnapshotListener { snap, error ->
            if (error != null || snap == null) return@addSnapshotListener
            onChange(snap.documents.associate { d ->
                d.id to Entitlement(
                    id = d.id,
                    active = d.getBoolean("active") == true,
                    expiresAt = (d.get("expiresAt") as? Timestamp)?.toDate(),
                    productId = d.getString("productId").orEmpty(),
                    state = d.getString("state").orEmpty(),
                )
            })
        }
