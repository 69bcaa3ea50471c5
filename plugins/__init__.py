"""The factor plugins shipped with provider (registered under the `provider.factors` group)."""
