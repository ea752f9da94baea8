import { refuseToRun } from '../shared/cli/not-yet-available.js';

refuseToRun('csi-provisioner', 'issue 4');
