using System.Text.Json;
using System.Text.Json.Nodes;
using TenantEvents.Identity;
using TenantEvents.Keys;
using TenantEvents.Organisations;
using TenantEvents.Scim;
using TenantEvents.Tenants;

namespace TenantEvents.Audit;

/// <summary>
/// The state of each kind of record as an auditor reads it, and how one event changes it: pure functions from (state
/// before, event) to state after, as JSON. The tenant's state is the tenant aggregate itself; the others are folded
/// here. Collections are objects keyed by id (grants by grant id, members by user id), so a JSON Patch names what
/// changed ("/grants/…", "/members/alice") instead of an array position. Secrets (hashes) never appear.
/// </summary>
public static class AuditStates
{
    private static JsonNode? ToNode<T>(T value) => JsonSerializer.SerializeToNode(value, SealedJson.Options);

    /// <param name="version">The stream version the event gives the record (the tenant aggregate carries it).</param>
    public static JsonNode? Evolve(string kind, JsonNode? before, object e, long version = 0)
    {
        if (kind == "tenant")
        {
            var tenant = before is null ? null : before.Deserialize<Tenant>(SealedJson.Options);
            var after = TenantStreams.Apply(tenant, e);
            after.Version = (int)version;
            return ToNode(after);
        }
        if (kind is "invoice" or "credit-note")
        {
            var document = Billing.Invoice.Apply(before?.Deserialize<Billing.Invoice>(SealedJson.Options), e);
            document.Version = version;
            return ToNode(document);
        }
        if (kind == "data-subject-request")
        {
            var request = Compliance.DataSubjectRequest.Apply(before?.Deserialize<Compliance.DataSubjectRequest>(SealedJson.Options), e);
            request.Version = version;
            return ToNode(request);
        }
        if (kind == "incident")
        {
            var incident = Compliance.Incident.Apply(before?.Deserialize<Compliance.Incident>(SealedJson.Options), e);
            incident.Version = version;
            return ToNode(incident);
        }
        var state = before?.DeepClone() as JsonObject;
        switch (e)
        {
            // A tenant's compliance profile: its processing activities, its security baseline, the notices it received.
            case Compliance.ProcessingActivitiesSet x: state ??= new JsonObject(); state["processingActivities"] = ToNode(x.Activities); return state;
            case Compliance.SecurityBaselineSet x: state ??= new JsonObject(); state["securityBaseline"] = ToNode(x.Baseline); return state;
            case Compliance.KeyRotationOverdue x: state ??= new JsonObject(); state["keyRotationOverdue"] = ToNode(x); return state;
            case Compliance.IncidentNoticeReceived x:
                state ??= new JsonObject();
                Child(state, "incidentNotices")[x.IncidentId.ToString()] = new JsonObject { ["title"] = x.Title, ["stage"] = x.Stage, ["version"] = x.Version, ["at"] = ToNode(x.At) };
                return state;
            case Compliance.ErasureNoticeReceived x:
                state ??= new JsonObject();
                Child(state, "erasureNotices")[x.RequestId.ToString()] = new JsonObject { ["fromTenantId"] = x.FromTenantId.ToString(), ["caseFileIds"] = ToNode(x.CaseFileIds), ["at"] = ToNode(x.At) };
                return state;
            // A tenant's billing account: its terms, its own rate cards by version, budgets by organisation, the alerts
            // raised (by month, organisation, threshold and basis) and the months closed.
            case Billing.BillingTermsSet x:
                state ??= new JsonObject();
                state["terms"] = new JsonObject
                {
                    ["buyer"] = ToNode(x.Buyer), ["recovery"] = x.Recovery, ["subsidy"] = x.Subsidy, ["split"] = x.Split, ["costCentres"] = ToNode(x.CostCentres),
                    ["approvalRequired"] = x.ApprovalRequired, ["purchaseOrderRequired"] = x.PurchaseOrderRequired, ["paymentTermDays"] = x.PaymentTermDays,
                };
                return state;
            case Billing.RateCardAdded x: state ??= new JsonObject(); Child(state, "rateCards")[x.Card.Version.ToString()] = ToNode(x.Card); return state;
            case Billing.BudgetSet x:
                state ??= new JsonObject();
                Child(state, "budgets")[x.OrganisationId.ToString()] = new JsonObject
                {
                    ["amount"] = x.Amount, ["thresholds"] = ToNode(x.Thresholds), ["forecast"] = x.Forecast, ["hard"] = x.Hard,
                };
                return state;
            case Billing.BudgetRemoved x: Child(Need(state), "budgets").Remove(x.OrganisationId.ToString()); return state;
            case Billing.BudgetThresholdCrossed x:
                state ??= new JsonObject();
                Child(state, "alerts")[$"{x.Month}:{x.OrganisationId}:{x.Threshold}:{x.Basis}"] = new JsonObject
                {
                    ["spent"] = x.Spent, ["forecast"] = x.Forecast, ["amount"] = x.Amount, ["currency"] = x.Currency, ["refusing"] = x.Refusing, ["at"] = x.At,
                };
                return state;
            case Billing.BillingMonthClosed x:
                state ??= new JsonObject();
                Child(state, "monthsClosed")[x.Month] = new JsonObject
                {
                    ["invoices"] = x.Invoices, ["currency"] = x.Currency, ["total"] = x.Total, ["lateLines"] = x.LateLines, ["at"] = x.At,
                };
                return state;
            case OrganisationCreated x:
                return new JsonObject
                {
                    ["id"] = x.OrganisationId, ["parentId"] = x.ParentId, ["name"] = x.Name, ["kind"] = x.Kind, ["jurisdiction"] = x.Jurisdiction,
                    ["open"] = true, ["createdAt"] = x.At, ["grants"] = new JsonObject(), ["policies"] = new JsonObject(), ["members"] = new JsonObject(),
                };
            case OrganisationRenamed x: state = Need(state); state["name"] = x.Name; return state;
            case OrganisationAttributesUpdated x: state = Need(state); state["kind"] = x.Kind; state["jurisdiction"] = x.Jurisdiction; return state;
            case OrganisationMoved x: state = Need(state); state["parentId"] = x.ToParentId; return state;
            case OrganisationClosed x: state = Need(state); state["open"] = false; state["closedReason"] = x.Reason; return state;
            case RoleGranted x:
                Child(Need(state), "grants")[x.GrantId.ToString()] = new JsonObject { ["principal"] = ToNode(x.Principal), ["role"] = x.Role, ["grantedAt"] = x.At };
                return state;
            case GrantRevoked x: Child(Need(state), "grants").Remove(x.GrantId.ToString()); return state;
            case PolicySet x: Child(Need(state), "policies")[x.Key] = new JsonObject { ["mode"] = x.Mode, ["value"] = x.Value }; return state;
            case PolicyCleared x: Child(Need(state), "policies").Remove(x.Key); return state;
            case MemberAdded x: Child(Need(state), "members")[x.UserId] = new JsonObject { ["addedAt"] = x.At }; return state;
            case MemberRemoved x: Child(Need(state), "members").Remove(x.UserId); return state;
            case Quotas.QuotaAllocated x:
                Child(Need(state), "quotas")[x.Kind] = new JsonObject { ["guaranteed"] = x.Guaranteed, ["cap"] = x.Cap };
                return state;
            case Quotas.QuotaAllocationRemoved x: Child(Need(state), "quotas").Remove(x.Kind); return state;
            case Quotas.QuotaThresholdCrossed x:
                state ??= new JsonObject { ["alerts"] = new JsonObject() };
                Child(state, "alerts")[$"{x.Kind}@{x.PeriodStart:yyyy-MM-dd}:{x.Threshold}"] = new JsonObject
                {
                    ["used"] = x.Used, ["limit"] = x.Limit, ["periodEnd"] = x.PeriodEnd, ["mode"] = x.Mode, ["at"] = x.At,
                };
                return state;
            case RoleDefined x:
                state ??= new JsonObject { ["roles"] = new JsonObject() };
                Child(state, "roles")[x.Name] = new JsonObject { ["description"] = x.Description, ["permissions"] = ToNode(x.Permissions) };
                return state;
            case RoleRemoved x: Child(Need(state), "roles").Remove(x.Name); return state;
            case ServiceAccountCreated x:
                return new JsonObject
                {
                    ["id"] = x.AccountId, ["name"] = x.Name, ["scopes"] = ToNode(x.Scopes), ["disabled"] = false, ["createdAt"] = x.At,
                    ["secretRotatedAt"] = x.At,
                };
            case ServiceAccountSecretRotated x:
                state = Need(state);
                state["secretRotatedAt"] = x.At;
                if (x.TokensRevoked) state["tokensRevokedAt"] = x.At;
                return state;
            case ServiceAccountScopesChanged x: state = Need(state); state["scopes"] = ToNode(x.Scopes); return state;
            case ServiceAccountDisabled x: state = Need(state); state["disabled"] = true; state["disabledReason"] = x.Reason; return state;
            case ServiceAccountEnabled: state = Need(state); state["disabled"] = false; state.Remove("disabledReason"); return state;
            case IdentityProviderConfigured x: return ToNode(x.Settings);
            case IdentityProviderRemoved: return null;
            // A tenant's names, keyed by name (the challenge is left out: it is a proof, not a setting).
            case Domains.DomainClaimed x:
                state ??= new JsonObject { ["domains"] = new JsonObject() };
                Child(state, "domains")[x.Domain] = new JsonObject { ["kind"] = x.Kind, ["state"] = Domains.DomainEntry.Pending, ["claimedAt"] = x.At };
                return state;
            case Domains.DomainVerified x:
                state = Need(state);
                if (Child(state, "domains")[x.Domain] is JsonObject entry)
                {
                    entry["state"] = Domains.DomainEntry.Verified;
                    entry["verifiedAt"] = x.At;
                    entry["method"] = x.Method;
                }
                return state;
            case Domains.DomainReleased x: state = Need(state); Child(state, "domains").Remove(x.Domain); return state;
            // A tenant's manifest: the plan last applied and what it manages (how many of each kind), and the drift last reported.
            case Manifests.ManifestApplied x:
                state ??= new JsonObject();
                state["name"] = x.Name;
                state["digest"] = x.Digest;
                state["appliedAt"] = x.At;
                var managed = state["managed"] as JsonObject ?? new JsonObject();
                foreach (var (made, ids) in x.Made) managed[made] = (managed[made]?.GetValue<long>() ?? 0) + ids.Count;
                foreach (var (gone, ids) in x.Removed) managed[gone] = (managed[gone]?.GetValue<long>() ?? 0) - ids.Count;
                state["managed"] = managed.DeepClone();
                state.Remove("drift");
                return state;
            case Manifests.ManifestDrifted x:
                state = Need(state);
                state["drift"] = new JsonObject { ["changes"] = x.Changes, ["byKind"] = ToNode(x.ByKind), ["at"] = x.At };
                return state;
            case ScimUserCreated x: return JsonNode.Parse(x.Resource);
            case ScimUserReplaced x: return JsonNode.Parse(x.Resource);
            case ScimUserPatched x: return JsonNode.Parse(x.Resource);
            case ScimUserDeleted: return null;
            case ScimGroupCreated x: return JsonNode.Parse(x.Resource);
            case ScimGroupReplaced x: return JsonNode.Parse(x.Resource);
            case ScimGroupPatched x: return JsonNode.Parse(x.Resource);
            case ScimGroupDeleted: return null;
            case CrossTenantAccessRecorded x:
                state ??= new JsonObject { ["accesses"] = 0L };
                state["accesses"] = (state["accesses"]?.GetValue<long>() ?? 0) + 1;
                state["last"] = ToNode(x);
                return state;
            case CaseFiles.CaseFileOpened x:
                return new JsonObject
                {
                    ["id"] = x.CaseFileId, ["organisationId"] = x.OrganisationId, ["title"] = x.Title, ["classification"] = x.Classification,
                    ["tags"] = ToNode(x.Tags), ["body"] = x.Body, ["entryCount"] = 0L, ["lastEntry"] = null, ["sharedInto"] = new JsonObject(),
                };
            case CaseFiles.CaseFileRevised x:
                state = Need(state);
                state["title"] = x.Title; state["classification"] = x.Classification; state["tags"] = ToNode(x.Tags); state["body"] = x.Body;
                return state;
            case CaseFiles.CaseFileEntryAdded x:
            {
                // A count and the entry just added, not every entry: each entry's audit record holds the state before and
                // after, so a state that kept them all would store the whole thread twice more with every comment. The
                // entries themselves are each in their own event (and record). A state from before kept "entries": folded
                // into the count here.
                state = Need(state);
                var count = state["entryCount"]?.GetValue<long>() ?? 0;
                if (state["entries"] is JsonObject old)
                {
                    count = old.Count;
                    state.Remove("entries");
                }
                state["entryCount"] = count + 1;
                state["lastEntry"] = new JsonObject
                {
                    ["id"] = x.EntryId, ["kind"] = x.Kind, ["text"] = x.Text, ["fromTenantId"] = x.FromTenantId, ["by"] = x.By.ToString(), ["at"] = x.At,
                };
                return state;
            }
            case CaseFiles.CaseFileShared x: Child(Need(state), "sharedInto")[x.CollaborationId.ToString()] = ToNode(x.Permissions); return state;
            case CaseFiles.CaseFileUnshared x: Child(Need(state), "sharedInto").Remove(x.CollaborationId.ToString()); return state;
            case Sharing.SharingAgreementOffered x:
                return new JsonObject
                {
                    ["id"] = x.AgreementId, ["ownerTenantId"] = x.OwnerTenantId, ["recipientTenantId"] = x.RecipientTenantId, ["scope"] = ToNode(x.Scope),
                    ["permissions"] = ToNode(x.Permissions), ["purpose"] = x.Purpose, ["expiresAt"] = x.ExpiresAt,
                    ["ownerOrganisationId"] = x.OwnerOrganisationId, ["state"] = "offered",
                };
            case Sharing.SharingAgreementAccepted x:
                state = Need(state); state["state"] = "active"; state["recipientOrganisationIds"] = ToNode(x.RecipientOrganisationIds); return state;
            case Sharing.SharingAgreementDeclined x: state = Need(state); state["state"] = "declined"; state["reason"] = x.Reason; return state;
            case Sharing.SharingAgreementRevoked x:
                state = Need(state); state["state"] = "revoked"; state["revokedBy"] = x.Side; state["reason"] = x.Reason; return state;
            case Sharing.SharingAgreementNarrowed x:
                state = Need(state); state["scope"] = ToNode(x.Scope); state["permissions"] = ToNode(x.Permissions); state["expiresAt"] = x.ExpiresAt;
                return state;
            case Sharing.CollaborationStarted x:
                return new JsonObject
                {
                    ["id"] = x.CollaborationId, ["kind"] = x.Kind, ["name"] = x.Name, ["charter"] = x.Charter, ["convenorTenantId"] = x.ConvenorTenantId,
                    ["open"] = true, ["members"] = new JsonObject { [x.ConvenorTenantId.ToString()] = "member" },
                };
            case Sharing.CollaborationMemberInvited x: Child(Need(state), "members")[x.TenantId.ToString()] = "invited"; return state;
            case Sharing.CollaborationInvitationAccepted x: Child(Need(state), "members")[x.TenantId.ToString()] = "member"; return state;
            case Sharing.CollaborationInvitationDeclined x: Child(Need(state), "members")[x.TenantId.ToString()] = "declined"; return state;
            case Sharing.CollaborationMemberLeft x: Child(Need(state), "members")[x.TenantId.ToString()] = "left"; return state;
            case Sharing.CollaborationMemberRemoved x: Child(Need(state), "members")[x.TenantId.ToString()] = "removed"; return state;
            case Sharing.CollaborationCharterRevised x: state = Need(state); state["charter"] = x.Charter; return state;
            case Sharing.CollaborationClosed: state = Need(state); state["open"] = false; return state;
            case Delivery.WebhookSubscribed x:
                return new JsonObject
                {
                    ["id"] = x.SubscriptionId, ["url"] = x.Url, ["types"] = ToNode(x.Types), ["description"] = x.Description, ["state"] = "active",
                };
            case Delivery.WebhookSubscriptionChanged x:
                state = Need(state);
                state["url"] = x.Url; state["types"] = ToNode(x.Types); state["description"] = x.Description; state["state"] = x.State;
                return state;
            case Delivery.WebhookUnsubscribed: state = Need(state); state["state"] = "removed"; return state;
            case Delivery.WebhookRedeliveryRequested x:
                state = Need(state);
                state["redeliveries"] = (state["redeliveries"]?.GetValue<int>() ?? 0) + x.Count;
                return state;
            default:
                throw new ArgumentException($"{e.GetType().Name} has no audit state.");
        }
    }

    private static JsonObject Need(JsonObject? state) =>
        state ?? throw new InvalidOperationException("An event that changes a record arrived before the record was created.");

    private static JsonObject Child(JsonObject state, string name)
    {
        if (state[name] is JsonObject child) return child;
        child = new JsonObject();
        state[name] = child;
        return child;
    }
}
