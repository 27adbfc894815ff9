_base_ = './fcn_hrnetv2-w18s-v1_1xb8-800it_synthetic-128x128.py'
# The demo on a GPU: CUDA-graph replay of the backbone, fp16 autocast with dynamic loss scaling.
model = dict(backbone=dict(cuda_graph=True))
optim_wrapper = dict(type='AmpOptimWrapper', loss_scale='dynamic')
