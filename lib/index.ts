export * from './contract';
export * from './injection';
export * from './constructs';
