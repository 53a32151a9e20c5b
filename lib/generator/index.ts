export * from './chart';
export * from './values';
