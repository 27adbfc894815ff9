_base_ = './td-hm_hrnetv1-w32_4xb32-210e_coco-256x192.py'
# GPU training: CUDA-graph replay of the backbone, fp16 autocast with dynamic loss scaling.
model = dict(backbone=dict(cuda_graph=True))
optim_wrapper = dict(type='AmpOptimWrapper', loss_scale='dynamic')
