namespace TenantEvents.Analytics;

/// <summary>
/// Usage records for analytics, in every tenant database (applied by `migrate`; row-level security like every tenant
/// table). analytics_activity: one row per user, day (UTC) and feature area the user used that day: written at most
/// once (the primary key), in batches, never per request. The user is a blind-index token under the tenant's key, not
/// the user's id: the records say how many, not who, and mean nothing once the tenant is shredded.
/// </summary>
public static class AnalyticsSchema
{
    public static string Sql(string s) => $$"""
        create table if not exists {{s}}.analytics_activity (
          tenant_id varchar(250) not null,
          day date not null,
          user_token text not null,
          feature text not null,
          primary key (tenant_id, day, feature, user_token));
        create index if not exists analytics_activity_users on {{s}}.analytics_activity (tenant_id, day, user_token);
        """;

    public static readonly IReadOnlyList<string> TenantState = ["analytics_activity"];
}
