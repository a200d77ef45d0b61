/** Every label, annotation, taint, gate and finalizer the operator reads or writes, in one place. */
export const LABEL_LEASE = "gpulease.io/lease";
export const LABEL_TENANT = "gpulease.io/tenant";
export const LABEL_LENDABLE = "gpulease.io/lendable";
export const LABEL_RECLAIM = "gpulease.io/reclaim";
export const LABEL_GPU_PRODUCT = "nvidia.com/gpu.product";
export const LABEL_NODE_STATE = "gpulease.io/state";
export const TAINT_LENT = "gpulease.io/lent";
export const SCHEDULING_GATE = "gpulease.io/lease";
export const FINALIZER = "gpulease.io/finalizer";
export const ANNOTATION_RECLAIM_DEADLINE = "gpulease.io/reclaim-deadline";
export const ANNOTATION_LAST_CHECKPOINT = "gpulease.io/last-checkpoint";
export const ANNOTATION_IDLE_SINCE = "gpulease.io/idle-since";
export const ANNOTATION_RETURNING = "gpulease.io/returning";
/** The operator's own record that a node is lent, written with the taint: a taint removed by hand is restored. */
export const ANNOTATION_LENT = "gpulease.io/lent";
/** On a pod of an internal pod group: how many pods the group has, so reclaim need not wait for stragglers. */
export const ANNOTATION_POD_GROUP_SIZE = "gpulease.io/pod-group-size";
