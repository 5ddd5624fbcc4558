import 'dart:async';
import 'dart:io' show Platform;

import 'package:cloud_firestore/cloud_firestore.dart';
import 'package:firebase_auth/firebase_auth.dart';
import 'package:in_app_purchase/in_app_purchase.dart';

import 'account_binding.dart';
import 'purchase_verifier.dart';

/// in_app_purchase: buy with the account binding, verify on the server, unlock from the listener.
class Purchases {
  Purchases(this.verifier, this.packageName, {required this.onMessage}) {
    _sub = InAppPurchase.instance.purchaseStream.listen((list) => list.forEach(_handle));
  }
  final PurchaseVerifier verifier;
  final String packageName; // the Android applicationId
  final void Function(String) onMessage;
  late final StreamSubscription<List<PurchaseDetails>> _sub;

  /// Android: applicationUserName becomes setObfuscatedAccountId (the hash).
  /// iOS: it becomes the appAccountToken (StoreKit passes a UUID-shaped applicationUsername on as
  /// appAccountToken), which the server checks against the caller.
  Future<void> buy(ProductDetails product, {bool consumable = false}) async {
    final uid = FirebaseAuth.instance.currentUser!.uid;
    final param = PurchaseParam(productDetails: product, applicationUserName: Platform.isIOS ? appAccountToken(uid) : accountHash(uid));
    if (consumable) {
      // The server consumes after crediting; autoConsume would race it on the client.
      await InAppPurchase.instance.buyConsumable(purchaseParam: param, autoConsume: false);
    } else {
      await InAppPurchase.instance.buyNonConsumable(purchaseParam: param);
    }
  }

  Future<void> _handle(PurchaseDetails p) async {
    if (p.status == PurchaseStatus.pending) return onMessage('Payment pending');
    if (p.status != PurchaseStatus.purchased && p.status != PurchaseStatus.restored) return;
    final data = p.verificationData.serverVerificationData;
    final request = Platform.isIOS
        // StoreKit 2 gives the transaction's JWS, StoreKit 1 the app receipt (needs the server's Apple API key).
        ? <String, Object>{'platform': 'app_store', if (data.split('.').length == 3) 'signedTransaction': data else 'receipt': data, 'productId': p.productID}
        : <String, Object>{'packageName': packageName, 'productId': p.productID, 'purchaseToken': data};
    try {
      final outcome = await verifier.verify(FirebaseAuth.instance.currentUser!, request);
      switch (outcome) {
        case Verified() || Canceled():
          // iOS: finish the transaction. Android: never call completePurchase (it acknowledges; the server does).
          if (Platform.isIOS && p.pendingCompletePurchase) await InAppPurchase.instance.completePurchase(p);
        case Pending(:final message):
          onMessage(message);
        case OwnedByOtherAccount():
          onMessage('This purchase belongs to another account');
      }
    } on VerifyPurchaseException catch (e) {
      onMessage('Could not verify (${e.code})');
    }
  }

  void dispose() => _sub.cancel();
}

/// users/{uid}/entitlements, live: what the app unlocks from. Maps entitlement id -> access now.
Stream<Map<String, bool>> watchEntitlements(String uid) => FirebaseFirestore.instance
    .collection('users/$uid/entitlements')
    .snapshots()
    .map((snap) => {
          for (final d in snap.docs)
            d.id: d.data()['active'] == true &&
                ((d.data()['expiresAt'] as Timestamp?)?.toDate().isAfter(DateTime.now()) ?? true),
        });
