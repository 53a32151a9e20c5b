export * from './contract';
export * from './injection';
