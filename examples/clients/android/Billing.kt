package com.example.iap

import android.app.Activity
import com.android.billingclient.api.BillingClient
import com.android.billingclient.api.BillingFlowParams
import com.android.billingclient.api.BillingResult
import com.android.billingclient.api.PendingPurchasesParams
import com.android.billingclient.api.ProductDetails
import com.android.billingclient.api.Purchase
import com.android.billingclient.api.PurchasesUpdatedListener
import com.google.firebase.auth.FirebaseAuth
import kotlinx.coroutines.CoroutineScope
import kotlinx.coroutines.launch

/**
 * Play Billing Library 7+: buy with the account binding, hand every purchase to verifyPurchase.
 * The client never acknowledges or consumes: the server does both after it granted, so a purchase
 * the server never saw is refunded by Play after three days instead of being kept unpaid-for.
 */
class Billing(
    private val activity: Activity,
    private val scope: CoroutineScope,
    private val verifier: PurchaseVerifier,
    private val ui: (String) -> Unit,
) : PurchasesUpdatedListener {
    val client: BillingClient = BillingClient.newBuilder(activity)
        .setListener(this)
        .enablePendingPurchases(PendingPurchasesParams.newBuilder().enableOneTimeProducts().build())
        .build()

    fun buy(product: ProductDetails, offerToken: String? = null) {
        val uid = FirebaseAuth.getInstance().currentUser?.uid ?: return ui("Sign in first")
        val details = BillingFlowParams.ProductDetailsParams.newBuilder()
            .setProductDetails(product)
            .apply { if (offerToken != null) setOfferToken(offerToken) } // subscriptions: the chosen offer
            .build()
        val params = BillingFlowParams.newBuilder()
            .setProductDetailsParamsList(listOf(details))
            .setObfuscatedAccountId(accountHash(uid))
            .build()
        client.launchBillingFlow(activity, params)
    }

    override fun onPurchasesUpdated(result: BillingResult, purchases: MutableList<Purchase>?) {
        if (result.responseCode != BillingClient.BillingResponseCode.OK) return
        purchases?.forEach(::handle)
    }

    /** Also call this for each result of queryPurchasesAsync on app start (purchases made while away). */
    fun handle(purchase: Purchase) {
        if (purchase.purchaseState == Purchase.PurchaseState.PENDING) return ui("Payment pending")
        val user = FirebaseAuth.getInstance().currentUser ?: return
        scope.launch {
            val outcome = runCatching {
                verifier.verify(user, purchase.packageName, purchase.products.first(), purchase.purchaseToken)
            }.getOrElse { e -> return@launch ui("Could not verify: ${(e as? VerifyPurchaseException)?.code ?: e.message}") }
            when (outcome) {
                is VerifyOutcome.Verified -> Unit // unlock from the entitlement listener, not from here
                is VerifyOutcome.Pending -> ui("Payment pending")
                is VerifyOutcome.Canceled -> ui("This purchase was canceled")
                is VerifyOutcome.OwnedByOtherAccount -> ui("This purchase belongs to another account")
            }
        }
    }
}
