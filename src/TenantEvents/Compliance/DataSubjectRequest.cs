namespace TenantEvents.Compliance;

public static class RequestKinds
{
    /// <summary>GDPR articles by kind: access (15), rectification (16), erasure (17), restriction (18), portability (20).</summary>
    public static readonly IReadOnlyDictionary<string, string> Articles = new Dictionary<string, string>(StringComparer.Ordinal)
    {
        ["access"] = "Art. 15", ["rectification"] = "Art. 16", ["erasure"] = "Art. 17", ["restriction"] = "Art. 18", ["portability"] = "Art. 20",
    };
}

public static class RequestStates
{
    public const string Received = "received", Verified = "verified", Fulfilled = "fulfilled", Refused = "refused", Closed = "closed";
}

/// <summary>A data-subject request as its stream says it is (the snapshot in compliance_records, sealed).</summary>
public sealed class DataSubjectRequest
{
    public Guid Id { get; set; }
    public long Version { get; set; }
    public string Kind { get; set; } = "";
    public DataSubject Subject { get; set; } = new("");
    public string Channel { get; set; } = "";
    public string State { get; set; } = RequestStates.Received;
    public string RuleId { get; set; } = "";
    public DateTimeOffset ReceivedAt { get; set; }

    /// <summary>The first due date (the one an extension must be announced before).</summary>
    public DateTimeOffset FirstDueAt { get; set; }
    public DateTimeOffset DueAt { get; set; }
    public string? ExtensionReasons { get; set; }
    public string? VerifiedBy { get; set; }
    public string? VerificationMethod { get; set; }
    public bool Overdue { get; set; }
    public DateTimeOffset? FulfilledAt { get; set; }
    public IReadOnlyDictionary<string, int>? Found { get; set; }
    public IReadOnlyList<string> Erased { get; set; } = [];
    public IReadOnlyList<RetainedRecords> Retained { get; set; } = [];
    public string? PackageDigest { get; set; }
    public IReadOnlyList<ErasureRecipient> Notified { get; set; } = [];
    public int Disclosures { get; set; }
    public IReadOnlyList<ErasedRecord> ErasedRecords { get; set; } = [];
    public string? Outcome { get; set; }
    public DateTimeOffset CreatedAt { get; set; }
    public DateTimeOffset UpdatedAt { get; set; }

    public bool Open => State is RequestStates.Received or RequestStates.Verified;

    public static DataSubjectRequest Apply(DataSubjectRequest? request, object e)
    {
        var r = request ?? new DataSubjectRequest();
        switch (e)
        {
            case DataSubjectRequestReceived x:
                r.Id = x.RequestId; r.Kind = x.Kind; r.Subject = x.Subject; r.Channel = x.Channel; r.ReceivedAt = x.ReceivedAt;
                r.FirstDueAt = r.DueAt = x.DueAt; r.RuleId = x.RuleId; r.CreatedAt = x.At; r.UpdatedAt = x.At;
                break;
            case DataSubjectIdentityVerified x:
                r.State = RequestStates.Verified; r.VerificationMethod = x.Method; r.VerifiedBy = x.By.ToString(); r.UpdatedAt = x.At;
                break;
            case DataSubjectRequestExtended x:
                r.DueAt = x.DueAt; r.ExtensionReasons = x.Reasons; r.Overdue = false; r.UpdatedAt = x.At;
                break;
            case DataSubjectRequestFulfilled x:
                r.State = RequestStates.Fulfilled; r.FulfilledAt = x.At; r.Found = x.Found; r.Erased = x.Erased; r.Retained = x.Retained;
                r.PackageDigest = x.PackageDigest; r.Outcome = x.Note; r.UpdatedAt = x.At;
                break;
            case DataSubjectErasureNotified x:
                r.Notified = x.Recipients; r.ErasedRecords = x.Records ?? []; r.UpdatedAt = x.At;
                break;
            case DataSubjectRequestRefused x:
                r.State = RequestStates.Refused; r.Outcome = x.Reason; r.UpdatedAt = x.At;
                break;
            case DataSubjectRequestClosed x:
                r.State = RequestStates.Closed; r.Outcome = x.Note ?? r.Outcome; r.UpdatedAt = x.At;
                break;
            case DataSubjectPackageDisclosed x:
                r.Disclosures++; r.UpdatedAt = x.At;
                break;
            case DataSubjectRequestOverdue x:
                r.Overdue = true; r.UpdatedAt = x.At;
                break;
        }
        return r;
    }

    /// <summary>What the compliance job watches: the due date while the request is open and not yet marked overdue.</summary>
    public IEnumerable<(string Name, DateTimeOffset DueAt, DateTimeOffset? RemindAt)> OpenDeadlines()
    {
        if (Open && !Overdue) yield return ("answer", DueAt, null);
    }
}
