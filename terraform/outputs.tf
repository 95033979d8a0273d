output "instance_id" {
  description = "EC2 instance id of the build machine."
  value       = aws_instance.builder.id
}

output "public_ip" {
  description = "Public IP address."
  value       = aws_instance.builder.public_ip
}

output "public_dns" {
  description = "Public DNS name."
  value       = aws_instance.builder.public_dns
}

output "ssh_command" {
  description = "SSH into the machine as the builder user."
  value       = "ssh builder@${aws_instance.builder.public_dns}"
}

output "nix_volume_id" {
  description = "EBS volume holding the Nix store (/nix); keep it to keep the store across instance replacements."
  value       = aws_ebs_volume.nix.id
}

output "ami_id" {
  description = "The NixOS AMI the instance was launched from."
  value       = data.aws_ami.nixos.id
}
