import 'dart:convert';

import 'package:firebase_auth/firebase_auth.dart';
import 'package:http/http.dart' as http;

/// What the app does next after verifyPurchase (same cases as the web sample).
sealed class VerifyOutcome {}

/// 200: the answer's purchase, entitlements and balances.
class Verified extends VerifyOutcome {
  Verified(this.result);
  final Map<String, dynamic> result;
}

/// 409 purchase_pending: nothing granted; verify again when the store reports it purchased.
class Pending extends VerifyOutcome {
  Pending(this.message);
  final String message;
}

/// 410 purchase_canceled: canceled or refunded.
class Canceled extends VerifyOutcome {
  Canceled(this.message);
  final String message;
}

/// 409 purchase_claimed / 403 account_mismatch.
class OwnedByOtherAccount extends VerifyOutcome {
  OwnedByOtherAccount(this.code, this.message);
  final String code, message;
}

/// Any other refusal (the server's code), or 503 once the retries are spent.
class VerifyPurchaseException implements Exception {
  VerifyPurchaseException(this.status, this.code, this.message);
  final int status;
  final String code, message;
  @override
  String toString() => 'verifyPurchase $status $code: $message';
}

class PurchaseVerifier {
  PurchaseVerifier(this.verifyUrl, {this.maxAttempts = 4, this.maxWaitSeconds = 30});
  final Uri verifyUrl; // https://REGION-PROJECT.cloudfunctions.net/verifyPurchase
  final int maxAttempts, maxWaitSeconds;

  /// `request` is the Play body ({packageName, productId, purchaseToken}) or the App Store one
  /// ({platform: 'app_store', signedTransaction | receipt}). Safe to repeat: the server is idempotent.
  Future<VerifyOutcome> verify(User user, Map<String, Object> request) async {
    var refreshed = false;
    for (var attempt = 1;; attempt++) {
      final res = await http.post(verifyUrl,
          headers: {'content-type': 'application/json', 'authorization': 'Bearer ${await user.getIdToken(refreshed)}'},
          body: jsonEncode(request));
      final json = (() {
        try {
          return jsonDecode(res.body) as Map<String, dynamic>;
        } catch (_) {
          return <String, dynamic>{};
        }
      })();
      final error = json['error'] as Map<String, dynamic>?;
      final code = error?['code'] as String? ?? 'http_${res.statusCode}';
      final message = error?['message'] as String? ?? '';
      if (res.statusCode == 200) return Verified(json);
      if (code == 'purchase_pending') return Pending(message);
      if (code == 'purchase_canceled') return Canceled(message);
      if (code == 'purchase_claimed' || code == 'account_mismatch') return OwnedByOtherAccount(code, message);
      if (res.statusCode == 401 && !refreshed) {
        refreshed = true; // token expired in flight: once more, fresh
        continue;
      }
      if (res.statusCode == 503 && attempt < maxAttempts) {
        final wait = int.tryParse(res.headers['retry-after'] ?? '') ?? 1;
        await Future.delayed(Duration(seconds: wait.clamp(1, maxWaitSeconds)));
        continue;
      }
      throw VerifyPurchaseException(res.statusCode, code, message);
    }
  }
}
