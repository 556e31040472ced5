namespace TenantEvents.Billing;

/// <summary>
/// Billing tables, in every tenant database (tenants-track migration 4; row-level security on all of them):
/// <list type="bullet">
/// <item>billing_accounts: the tenants being billed and the last month closed (what the month-close job looks for).</item>
/// <item>billing_documents: each invoice and credit note, its snapshot sealed under the tenant's key (lines, parties),
/// with what lists and totals need in the clear: kind, organisation, month, state, number, currency and total.</item>
/// <item>billing_series: the last number of each issuer's series, taken in the finalising transaction (so a number is
/// used exactly when its invoice commits: no gaps, no repeats).</item>
/// <item>billed_usage: per month, organisation and metric, the quantity billed; usage that arrives later is the
/// difference, billed on the next invoice.</item>
/// <item>budget_refusals: organisations a hard budget refuses this month (read by the quotas' enforcement).</item>
/// <item>allocation_history: each quota allocation from the moment it took effect, written with the allocation, so a
/// month charges allocated units to whoever held them each day.</item>
/// </list>
/// </summary>
public static class BillingSchema
{
    public static string Sql(string s) => $$"""
        create table if not exists {{s}}.billing_accounts (
          tenant_id varchar(250) not null primary key,
          first_month text not null,
          last_closed text,
          updated_at timestamptz not null);
        create table if not exists {{s}}.billing_documents (
          tenant_id varchar(250) not null,
          id uuid not null,
          kind text not null,
          org_id uuid,
          month text not null,
          state text not null,
          number text,
          currency text not null,
          total numeric not null,
          version bigint not null,
          key_version integer not null,
          nonce bytea not null,
          ciphertext bytea not null,
          created_at timestamptz not null,
          updated_at timestamptz not null,
          primary key (tenant_id, id));
        create unique index if not exists billing_documents_one_invoice on {{s}}.billing_documents
          (tenant_id, coalesce(org_id, '00000000-0000-0000-0000-000000000000'::uuid), month) where kind = 'invoice';
        create unique index if not exists billing_documents_number on {{s}}.billing_documents (tenant_id, number) where number is not null;
        create index if not exists billing_documents_month on {{s}}.billing_documents (tenant_id, month, kind);
        create table if not exists {{s}}.billing_series (
          tenant_id varchar(250) not null,
          series text not null,
          last bigint not null,
          primary key (tenant_id, series));
        create table if not exists {{s}}.billed_usage (
          tenant_id varchar(250) not null,
          month text not null,
          org_id uuid not null,
          metric text not null,
          quantity bigint not null,
          primary key (tenant_id, month, org_id, metric));
        create table if not exists {{s}}.budget_refusals (
          tenant_id varchar(250) not null,
          org_id uuid not null,
          month text not null,
          primary key (tenant_id, org_id, month));
        create table if not exists {{s}}.allocation_history (
          tenant_id varchar(250) not null,
          org_id uuid not null,
          kind text not null,
          since timestamptz not null,
          guaranteed bigint not null,
          primary key (tenant_id, org_id, kind, since));
        -- Allocations made before this migration: in force from when they were set.
        insert into {{s}}.allocation_history (tenant_id, org_id, kind, since, guaranteed)
          select tenant_id, org_id, kind, set_at, guaranteed from {{s}}.org_quota_allocations on conflict do nothing;
        """;

    /// <summary>Every billing table (kept after a decommission: invoices are records the seller must keep; their content is sealed).</summary>
    public static readonly IReadOnlyList<string> Tables =
        ["billing_accounts", "billing_documents", "billing_series", "billed_usage", "budget_refusals", "allocation_history"];
}
