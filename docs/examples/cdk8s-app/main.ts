import { App, Chart } from 'cdk8s';
import { LxcfsKit } from 'lxcfs-kit';

const app = new App();
const chart = new Chart(app, 'platform');

new LxcfsKit(chart, 'lxcfs-kit', {
  namespace: 'lxcfs-kit',
  createNamespace: true,
  webhook: {
    replicas: 3,
    repairMode: 'evict', // recreate opted-in pods that were created without lxcfs
  },
  agent: {
    resources: { requests: { cpu: '50m', memory: '64Mi' }, limits: { memory: '512Mi' } },
  },
});

app.synth();
