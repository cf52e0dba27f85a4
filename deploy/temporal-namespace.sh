#!/bin/sh
# For those who prefer the temporal CLI to `receiptflow migrate` (which does the same): creates receiptflow's
# namespace and its search attributes; what exists already is left as it is. The list must match
# workflows.SearchAttributeKeys (worker.SearchAttributes); worker's tests check it does.
set -eu
temporal operator namespace describe --namespace "$NAMESPACE" >/dev/null 2>&1 ||
  temporal operator namespace create --namespace "$NAMESPACE" --retention "$RETENTION"
for attr in OrderId:Keyword ReceiptState:Keyword RiskLevel:Keyword PayerId:Keyword AmountFen:Int MerchantOrderNo:Keyword \
  StateSince:Datetime PayoutAttempt:Int PayoutRetrying:Bool; do
  name=${attr%%:*}
  if ! temporal operator search-attribute list --namespace "$NAMESPACE" | grep -qw "$name"; then
    temporal operator search-attribute create --namespace "$NAMESPACE" --name "$name" --type "${attr##*:}"
    added=yes
  fi
done
# As receiptflow migrate does: let the services' namespace caches (refreshed every 2 s) see what was added.
if [ -n "${added:-}" ]; then sleep 5; fi
