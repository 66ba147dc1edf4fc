// The trauma register's message builder lives with the registry (the demo uses it too).
export * from '../../registries/trauma/bundles.ts';
